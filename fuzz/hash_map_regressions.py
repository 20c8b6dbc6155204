#!/usr/bin/env python3
"""Writes the hash map fuzzer's regression inputs for issue 10's bugs.

Each is an operation sequence in hash_map_fuzzer.cc's encoding: a config byte
(bits 0-1: the hash; bit 2: start with 200 buckets), then per operation an
operation byte (taken mod the number of operations), a variant byte, an arm
byte (< 64 arms a hook: n = 1 + (arm & 7), kinds by arm >> 3; 255 arms
nothing) and the operation's own bytes. At a5b674e each failed as its
comment says; they now replay as regression tests. Re-run this if the
encoding changes:

  fuzz/hash_map_regressions.py fuzz/corpus/hash_map
"""
import os
import sys

# Operation numbers of fuzz/hash_map_fuzzer.cc.
(INSERT, ERASE, READ, UPDATE, COMPUTE, ERASE_IF, CLEAR, RESIZE, BULK_INSERT,
 BULK_ERASE, OPEN_BEGIN, OPEN_FIND, STEP, CLOSE, ERASE_AT, COMPARE, GUARD, MLF,
 INSERT_RANGE, BARRIER) = range(20)
NOARM = 255
PERSISTENT = 0x80  # variant bit: every allocation after the armed one fails


def op(kind, variant=0, arm=NOARM, *params):
    return bytes([kind, variant, arm, *params])


def alloc(n):  # the n-th allocation (allocator or operator new) fails
    return 16 + (n - 1)


def pred(n):  # the n-th call of a predicate or function throws
    return 48 + (n - 1)


IDENTITY, MOD5 = bytes([0]), bytes([1])  # config bytes: the hash

INPUTS = {
    # Bug 1: ++ on the iterator from find(30) follows link 0, stale since
    # the resize; it leads to key 25, erased and freed (heap-use-after-free).
    'regress-bug1-increment-lookup-after-resize':
        MOD5 + op(BULK_INSERT, 39, NOARM, 0) + op(BULK_ERASE, 28, NOARM, 1) +
        op(BARRIER) + op(OPEN_FIND, 0, NOARM, 30) + op(STEP, 0),
    # Bugs 3 and 4: insert_or_assign of a present key; the node is allocated,
    # then every allocation fails; the retire throws after the new entry is
    # published (its own result iterator is a read-side section).
    'regress-bug4-insert-or-assign-alloc':
        IDENTITY + op(INSERT, 0, NOARM, 5) + op(INSERT, PERSISTENT | 6, alloc(3), 5),
    # Bug 4: erase inside a ReadGuard when allocation fails: the entry is
    # unlinked, then Retire throws bad_alloc.
    'regress-bug4-erase-in-guard-alloc':
        IDENTITY + op(INSERT, 0, NOARM, 5) + op(GUARD) + op(ERASE, PERSISTENT, alloc(1), 5),
    # Bug 4: update inside a ReadGuard when allocation fails after the new node.
    'regress-bug4-update-in-guard-alloc':
        IDENTITY + op(INSERT, 0, NOARM, 5) + op(GUARD) + op(UPDATE, PERSISTENT, alloc(3), 5),
    # Bug 5: erase_if whose predicate throws on its 7th call, inside a stripe
    # of 10 entries (hash k % 5): 6 entries unlinked and leaked.
    'regress-bug5-erase-if-predicate-throws':
        MOD5 + op(BULK_INSERT, 49, NOARM, 0) + op(ERASE_IF, 0, pred(7), 0),
    # Bug 5: erase_if whose vector of unlinked entries cannot grow.
    'regress-bug5-erase-if-alloc':
        IDENTITY + op(BULK_INSERT, 199, NOARM, 0) + op(ERASE_IF, 0, alloc(3), 0),
    # Bug 6: clear() when its callback cannot be allocated: it empties the
    # map, throws, and leaks every entry.
    'regress-bug6-clear-alloc':
        IDENTITY + op(BULK_INSERT, 9, NOARM, 0) + op(CLEAR, 0, alloc(2)),
    # Bug 8: reserve() while an iterator from begin() holds a read-side
    # section and the last resize's grace period is pending: aborts.
    'regress-bug8-reserve-holding-iterator':
        IDENTITY + op(BULK_INSERT, 99, NOARM, 0) + op(OPEN_BEGIN, 0) + op(RESIZE, 2, NOARM, 255),
}


def main():
    out = sys.argv[1]
    for name, data in INPUTS.items():
        with open(os.path.join(out, name), 'wb') as f:
            f.write(data)
        print(name, data.hex())


if __name__ == '__main__':
    main()
