#!/usr/bin/env python3
"""Writes the hash map fuzzer's regression inputs for issue 10's bugs.

Each is an operation sequence in hash_map_fuzzer.cc's encoding: a config byte
(bits 0-1: the hash; bit 2: start with 200 buckets), then per operation an
operation byte (taken mod the number of operations), a variant byte, an arm
byte (< 64 arms a hook: n = 1 + (arm & 7), kinds by arm >> 3; 255 arms
nothing) and the operation's own bytes. With kExerciseKnownMapBugs false the
fuzzer skips what these break, so they replay harmlessly; with it true (once
the fixes are in) each replays its bug. At a5b674e each failed as its comment
says (see the fuzzer's report in the issue 10 branch history). Re-run this
if the encoding changes:

  fuzz/hash_map_regressions.py fuzz/corpus/hash_map
"""
import os
import sys

# Op numbers of fuzz/hash_map_fuzzer.cc.
INSERT, ERASE, READ, UPDATE, COMPUTE, ERASE_IF, CLEAR, RESIZE, BULK_INSERT, BULK_ERASE, OPEN_BEGIN, OPEN_FIND, STEP, CLOSE, ERASE_AT, COMPARE, GUARD, MLF, INSERT_RANGE, BARRIER = range(20)
NOARM = 255
def op(kind, variant=0, arm=NOARM, *params): return bytes([kind, variant, arm, *params])
def alloc(n): return 16 + (n - 1)       # kAllocation, n-th call fails
def pred(n): return 48 + (n - 1)        # kPredicate
seqs = {
 # bug 1: ++ from find(30): link 0 of key 30 is stale after the resize; key 25 it leads to was erased and freed.
 'regress-bug1-increment-lookup-after-resize': bytes([1]) + op(BULK_INSERT, 39, NOARM, 0) + op(BULK_ERASE, 28, NOARM, 1) + op(BARRIER) + op(OPEN_FIND, 0, NOARM, 30) + op(STEP, 0),
 # bug 3/4: insert_or_assign of a present key; node allocated, then every allocation fails: the retire throws after the new entry is published.
 'regress-bug4-insert-or-assign-alloc': bytes([0]) + op(INSERT, 0, NOARM, 5) + op(INSERT, 0x86, alloc(3), 5),
 # bug 4: erase inside a ReadGuard when allocation fails: the entry is unlinked, then Retire throws.
 'regress-bug4-erase-in-guard-alloc': bytes([0]) + op(INSERT, 0, NOARM, 5) + op(GUARD) + op(ERASE, 0x80, alloc(1), 5),
 # bug 4: update inside a ReadGuard when allocation fails after the new node.
 'regress-bug4-update-in-guard-alloc': bytes([0]) + op(INSERT, 0, NOARM, 5) + op(GUARD) + op(UPDATE, 0x80, alloc(3), 5),
 # bug 5: erase_if whose predicate throws on its 7th call, in a stripe of 10 entries (hash k % 5): 6 entries unlinked and leaked.
 'regress-bug5-erase-if-predicate-throws': bytes([1]) + op(BULK_INSERT, 49, NOARM, 0) + op(ERASE_IF, 0, pred(7), 0),
 # bug 5: erase_if whose vector cannot grow.
 'regress-bug5-erase-if-alloc': bytes([0]) + op(BULK_INSERT, 199 % 256, NOARM, 0) + op(ERASE_IF, 0, alloc(3), 0),
 # bug 6: clear() when its callback cannot be allocated: empties the map, throws, leaks.
 'regress-bug6-clear-alloc': bytes([0]) + op(BULK_INSERT, 9, NOARM, 0) + op(CLEAR, 0, alloc(2)),
 # bug 8: reserve() while an iterator from begin() holds a read-side section, the last resize's grace period pending.
 'regress-bug8-reserve-holding-iterator': bytes([0]) + op(BULK_INSERT, 99, NOARM, 0) + op(OPEN_BEGIN, 0) + op(RESIZE, 2, NOARM, 255),
}
out = sys.argv[1]
for name, data in seqs.items():
    open(os.path.join(out, name), 'wb').write(data)
    print(name, data.hex())
