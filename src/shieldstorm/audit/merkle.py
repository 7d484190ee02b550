"""RFC 9162 Merkle tree hashing, proof construction and proof verification (pure functions).

Hashing (RFC 9162 §2.1.1): leaf = SHA-256(0x00 ‖ data), node = SHA-256(0x01 ‖ left ‖ right),
the empty tree's root = SHA-256("").

Storage model: a tree of size n is the left-to-right list of its *perfect* subtrees, one for each set bit of n
(the "compact range"). Every perfect subtree is addressed by (level, index): it covers leaves
[index·2^level, (index+1)·2^level). Its hash never changes once complete, so stores write it once at append
time and every proof or root is a combination of O(log n) stored perfect-subtree hashes.
Perfect nodes are numbered in-order ("flat tree" numbering): pos(level, index) = index·2^(level+1) + 2^level − 1,
so all nodes under a leaf range [a, b) with aligned a have positions in [2a, 2b − 2] — one range scan.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping, Sequence

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()

Node = tuple[int, int]  # (level, index) of a perfect subtree
NodeLookup = Callable[[Sequence[Node]], Mapping[Node, bytes]]


class ProofError(ValueError):
    """A proof was requested for sizes or indices the tree cannot prove."""


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def node_position(level: int, index: int) -> int:
    return (index << (level + 1)) + (1 << level) - 1


def position_node(position: int) -> Node:
    """Inverse of node_position: the level is the number of trailing one bits."""
    level = 0
    while (position >> level) & 1:
        level += 1
    return level, position >> (level + 1)


def _largest_power_of_two_below(n: int) -> int:
    """The k of RFC 9162: the largest power of two strictly smaller than n (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


def perfect_subtrees(start: int, end: int) -> list[Node]:
    """The perfect subtrees whose concatenation is MTH(D[start:end]) in RFC 9162's left-balanced shape.

    Valid for the ranges that occur in trees and proofs: `start` aligned to the size of the largest piece.
    """
    nodes: list[Node] = []
    while end > start:
        size = end - start
        if size & (size - 1) == 0:
            nodes.append((size.bit_length() - 1, start >> (size.bit_length() - 1)))
            break
        k = _largest_power_of_two_below(size)
        level = k.bit_length() - 1
        nodes.append((level, start >> level))
        start += k
    return nodes


def fold_subtrees(hashes: Sequence[bytes]) -> bytes:
    """Combine the perfect-subtree hashes of a range, left to right, into the range's MTH."""
    if not hashes:
        return EMPTY_ROOT
    result = hashes[-1]
    for left in reversed(hashes[:-1]):
        result = node_hash(left, result)
    return result


def inclusion_ranges(index: int, size: int) -> list[tuple[int, int]]:
    """Leaf ranges whose MTHs form the inclusion path PATH(index, D[0:size]) (RFC 9162 §2.1.3.1), bottom-up."""
    if not 0 <= index < size:
        raise ProofError(f"leaf index {index} is outside a tree of size {size}")
    ranges: list[tuple[int, int]] = []
    start, end = 0, size
    while end - start > 1:
        k = _largest_power_of_two_below(end - start)
        if index < start + k:
            ranges.append((start + k, end))
            end = start + k
        else:
            ranges.append((start, start + k))
            start += k
    ranges.reverse()
    return ranges


def consistency_ranges(old_size: int, new_size: int) -> list[tuple[int, int]]:
    """Leaf ranges whose MTHs form PROOF(old, D[0:new]) (RFC 9162 §2.1.4.1), in proof order."""
    if not 0 <= old_size <= new_size:
        raise ProofError(f"no consistency proof from size {old_size} to size {new_size}")
    if old_size in (0, new_size):
        return []
    ranges: list[tuple[int, int]] = []
    start, end, m, complete = 0, new_size, old_size, True
    while m != end - start:
        k = _largest_power_of_two_below(end - start)
        if m <= k:
            ranges.append((start + k, end))
            end = start + k
        else:
            ranges.append((start, start + k))
            m -= k
            start += k
            complete = False
    if not complete:
        ranges.append((start, end))
    ranges.reverse()
    return ranges


def resolve_ranges(ranges: Sequence[tuple[int, int]], lookup: NodeLookup) -> list[bytes]:
    """Turn leaf ranges into hashes with ONE lookup of all the perfect subtrees they need."""
    pieces = [perfect_subtrees(start, end) for start, end in ranges]
    wanted = list(dict.fromkeys(node for nodes in pieces for node in nodes))
    found = lookup(wanted)
    missing = [node for node in wanted if node not in found]
    if missing:
        raise ProofError(f"tree storage lacks {len(missing)} node(s), first {missing[0]}")
    return [fold_subtrees([found[node] for node in nodes]) for nodes in pieces]


# --- verification (RFC 9162 §2.1.3.2 and §2.1.4.2) ---------------------------------------------------------


def root_from_inclusion_proof(index: int, size: int, leaf: bytes, path: Sequence[bytes]) -> bytes | None:
    """The root implied by an inclusion proof, or None if the proof's shape is invalid for (index, size)."""
    if index < 0 or index >= size or len(leaf) != HASH_SIZE:
        return None
    fn, sn, r = index, size - 1, leaf
    for p in path:
        if sn == 0 or len(p) != HASH_SIZE:
            return None
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        return None
    return r


def verify_inclusion(index: int, size: int, leaf: bytes, path: Sequence[bytes], root: bytes) -> bool:
    """RFC 9162 §2.1.3.2: does `path` prove that `leaf` (a leaf hash) is entry `index` of the tree `root`?"""
    computed = root_from_inclusion_proof(index, size, leaf, path)
    return computed is not None and computed == root


def verify_consistency(old_size: int, new_size: int, old_root: bytes, new_root: bytes, path: Sequence[bytes]) -> bool:
    """RFC 9162 §2.1.4.2: does `path` prove the tree `new_root` (new_size) extends the tree `old_root`?"""
    if old_size < 0 or new_size < old_size or any(len(p) != HASH_SIZE for p in path):
        return False
    if old_size == new_size:
        return not path and old_root == new_root
    if old_size == 0:
        # Every tree extends the empty tree; the claimed old root must still be the empty root.
        return not path and old_root == EMPTY_ROOT
    if not path:
        return False
    proof = list(path)
    if old_size & (old_size - 1) == 0:
        proof.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = proof[0]
    for c in proof[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return sn == 0 and fr == old_root and sr == new_root


# --- an in-memory tree (reference implementation for tests, the verifier and small logs) -------------------


class MemoryTree:
    """All leaf hashes in memory; perfect subtrees computed on demand and memoised."""

    def __init__(self, leaf_hashes: Iterable[bytes] = ()) -> None:
        self.leaves: list[bytes] = list(leaf_hashes)
        self._nodes: dict[Node, bytes] = {}

    @classmethod
    def from_data(cls, items: Iterable[bytes]) -> MemoryTree:
        return cls(leaf_hash(item) for item in items)

    def append(self, data: bytes) -> int:
        self.leaves.append(leaf_hash(data))
        return len(self.leaves) - 1

    @property
    def size(self) -> int:
        return len(self.leaves)

    def node(self, level: int, index: int) -> bytes:
        if level == 0:
            return self.leaves[index]
        key = (level, index)
        cached = self._nodes.get(key)
        if cached is None:
            if (index + 1) << level > len(self.leaves):
                raise ProofError(f"node {key} is not complete in a tree of size {len(self.leaves)}")
            cached = node_hash(self.node(level - 1, 2 * index), self.node(level - 1, 2 * index + 1))
            self._nodes[key] = cached
        return cached

    def lookup(self, nodes: Sequence[Node]) -> dict[Node, bytes]:
        return {node: self.node(*node) for node in nodes}

    def root(self, size: int | None = None) -> bytes:
        size = self.size if size is None else size
        if not 0 <= size <= self.size:
            raise ProofError(f"tree size {size} is beyond the tree ({self.size})")
        return fold_subtrees(resolve_ranges([(0, size)], self.lookup)) if size else EMPTY_ROOT

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        size = self.size if size is None else size
        if size > self.size:
            raise ProofError(f"tree size {size} is beyond the tree ({self.size})")
        return resolve_ranges(inclusion_ranges(index, size), self.lookup)

    def consistency_proof(self, old_size: int, new_size: int | None = None) -> list[bytes]:
        new_size = self.size if new_size is None else new_size
        if new_size > self.size:
            raise ProofError(f"tree size {new_size} is beyond the tree ({self.size})")
        return resolve_ranges(consistency_ranges(old_size, new_size), self.lookup)


class CompactRange:
    """The right edge of a growing tree: one (level, hash) per perfect subtree of [0, size), left to right.

    Appending yields the perfect nodes that became complete, which is what a store must write.
    """

    def __init__(self, size: int = 0, subtrees: Sequence[tuple[int, bytes]] = ()) -> None:
        self.size = size
        self.subtrees: list[tuple[int, bytes]] = list(subtrees)
        expected = [level for level, _ in (perfect_node for perfect_node in self.subtrees)]
        if expected != [level for level, _ in perfect_subtrees(0, size)]:
            raise ValueError(f"compact range levels {expected} do not match a tree of size {size}")

    def append(self, leaf: bytes) -> list[tuple[int, int, bytes]]:
        """Add a leaf hash; returns the completed perfect nodes above level 0 as (level, index, hash)."""
        completed: list[tuple[int, int, bytes]] = []
        current, level, index = leaf, 0, self.size
        while self.subtrees and self.subtrees[-1][0] == level:
            current = node_hash(self.subtrees.pop()[1], current)
            level += 1
            index >>= 1
            completed.append((level, index, current))
        self.subtrees.append((level, current))
        self.size += 1
        return completed

    def root(self) -> bytes:
        return fold_subtrees([h for _, h in self.subtrees])
