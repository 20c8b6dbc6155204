// bench/rculfhash_peer.cc: liburcu's rculfhash as a benchmark peer. See
// rculfhash_peer.h.
//
// Compiled with _LGPL_SOURCE, so liburcu's read-side lock and unlock are
// inlined here (like the library's own default build, see README.md,
// "License"); the lookup itself is a call into liburcu-cds with a match
// callback, which is how rculfhash is used.
#define _LGPL_SOURCE
#include "bench/rculfhash_peer.h"

// urcu-memb.h first: rculfhash.h then declares the memb flavor's symbols.
#include <urcu/urcu-memb.h>
// (keep apart: include order matters)
#include <urcu/rculfhash.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <vector>

#include "absl/hash/hash.h"

namespace rcu_bench {
namespace {

struct Entry {
  cds_lfht_node node;
  std::uint64_t key;
  std::uint64_t value;
  rcu_head rcu;
};

Entry* EntryOfNode(cds_lfht_node* node) {
  return reinterpret_cast<Entry*>(reinterpret_cast<char*>(node) - offsetof(Entry, node));
}

Entry* EntryOfHead(rcu_head* head) {
  return reinterpret_cast<Entry*>(reinterpret_cast<char*>(head) - offsetof(Entry, rcu));
}

int Match(cds_lfht_node* node, const void* key) {
  return EntryOfNode(node)->key == *static_cast<const std::uint64_t*>(key);
}

void FreeEntry(rcu_head* head) { delete EntryOfHead(head); }

// The hash rcu::HashMap uses by default.
unsigned long Hash(std::uint64_t key) { return absl::Hash<std::uint64_t>()(key); }

Entry* NewEntry(std::uint64_t key, std::uint64_t value) {
  auto* entry = new Entry;
  cds_lfht_node_init(&entry->node);
  entry->key = key;
  entry->value = value;
  return entry;
}

}  // namespace

RculfhashMap::RculfhashMap(std::size_t capacity) {
  unsigned long buckets = 1;
  while (buckets < capacity) buckets <<= 1;
  table_ = cds_lfht_new_flavor(buckets, buckets, 0, CDS_LFHT_AUTO_RESIZE | CDS_LFHT_ACCOUNTING,
                               &urcu_memb_flavor, nullptr);
  if (table_ == nullptr) std::abort();
}

RculfhashMap::~RculfhashMap() {
  std::vector<Entry*> entries;
  urcu_memb_read_lock();
  cds_lfht_iter iter;
  cds_lfht_node* node;
  cds_lfht_for_each(table_, &iter, node) {
    if (cds_lfht_del(table_, node) == 0) entries.push_back(EntryOfNode(node));
  }
  urcu_memb_read_unlock();
  urcu_memb_synchronize_rcu();
  for (Entry* entry : entries) delete entry;
  cds_lfht_destroy(table_, nullptr);
}

std::uint64_t RculfhashMap::Lookup(std::uint64_t key) const {
  urcu_memb_read_lock();
  cds_lfht_iter iter;
  cds_lfht_lookup(table_, Hash(key), Match, &key, &iter);
  cds_lfht_node* node = cds_lfht_iter_get_node(&iter);
  const std::uint64_t value = node != nullptr ? EntryOfNode(node)->value : 0;
  urcu_memb_read_unlock();
  return value;
}

void RculfhashMap::Insert(std::uint64_t key, std::uint64_t value) {
  Entry* entry = NewEntry(key, value);
  urcu_memb_read_lock();
  cds_lfht_node* present = cds_lfht_add_unique(table_, Hash(key), Match, &entry->key, &entry->node);
  urcu_memb_read_unlock();
  if (present != &entry->node) delete entry;  // never published
}

void RculfhashMap::Assign(std::uint64_t key, std::uint64_t value) {
  Entry* entry = NewEntry(key, value);
  urcu_memb_read_lock();
  cds_lfht_node* old = cds_lfht_add_replace(table_, Hash(key), Match, &entry->key, &entry->node);
  urcu_memb_read_unlock();
  if (old != nullptr) urcu_memb_call_rcu(&EntryOfNode(old)->rcu, FreeEntry);
}

void RculfhashMap::Erase(std::uint64_t key) {
  urcu_memb_read_lock();
  cds_lfht_iter iter;
  cds_lfht_lookup(table_, Hash(key), Match, &key, &iter);
  cds_lfht_node* node = cds_lfht_iter_get_node(&iter);
  const bool removed = node != nullptr && cds_lfht_del(table_, node) == 0;
  urcu_memb_read_unlock();
  if (removed) urcu_memb_call_rcu(&EntryOfNode(node)->rcu, FreeEntry);
}

void RculfhashBarrier() { urcu_memb_barrier(); }

}  // namespace rcu_bench
