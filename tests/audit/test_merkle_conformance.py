"""RFC 6962/9162 conformance against the shared vectors, including every corrupted proof they describe."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from shieldstorm.audit.merkle import (
    EMPTY_ROOT,
    CompactRange,
    MemoryTree,
    leaf_hash,
    verify_consistency,
    verify_inclusion,
)
from tests.audit.vectors import load_merkle_vectors


@pytest.fixture(scope="module")
def vectors() -> dict[str, Any]:
    return load_merkle_vectors()


@pytest.fixture(scope="module")
def tree(vectors: dict[str, Any]) -> MemoryTree:
    return MemoryTree.from_data(bytes.fromhex(item) for item in vectors["leaves_hex"])


def _h(text: str) -> bytes:
    return bytes.fromhex(text)


def test_vector_file_has_every_section(vectors: dict[str, Any]) -> None:
    assert vectors["leaves_hex"] and vectors["roots_by_size"]
    assert vectors["inclusion_proofs"] and vectors["consistency_proofs"]


def test_empty_root(vectors: dict[str, Any]) -> None:
    assert _h(vectors["empty_root"]) == EMPTY_ROOT
    assert MemoryTree().root() == EMPTY_ROOT
    assert CompactRange().root() == EMPTY_ROOT


def test_roots_by_size(vectors: dict[str, Any], tree: MemoryTree) -> None:
    compact = CompactRange()
    leaves = [bytes.fromhex(item) for item in vectors["leaves_hex"]]
    for size in range(1, len(leaves) + 1):
        compact.append(leaf_hash(leaves[size - 1]))
        expected = _h(vectors["roots_by_size"][str(size)])
        assert tree.root(size) == expected, size
        assert compact.root() == expected, size


def test_inclusion_proofs_are_generated_and_verify(vectors: dict[str, Any], tree: MemoryTree) -> None:
    for case in vectors["inclusion_proofs"]:
        index, size = case["leaf_index"], case["tree_size"]
        path = [_h(p) for p in case["path"]]
        root = _h(vectors["roots_by_size"][str(size)])
        assert tree.inclusion_proof(index, size) == path, case
        assert verify_inclusion(index, size, tree.leaves[index], path, root), case


def test_consistency_proofs_are_generated_and_verify(vectors: dict[str, Any], tree: MemoryTree) -> None:
    for case in vectors["consistency_proofs"]:
        old, new = case["size1"], case["size2"]
        path = [_h(p) for p in case["path"]]
        old_root, new_root = _h(vectors["roots_by_size"][str(old)]), _h(vectors["roots_by_size"][str(new)])
        assert tree.consistency_proof(old, new) == path, case
        assert verify_consistency(old, new, old_root, new_root, path), case


def _path_corruptions(path: list[bytes]) -> Iterator[tuple[str, list[bytes]]]:
    for position, element in enumerate(path):
        for byte in range(len(element)):
            changed = bytearray(element)
            changed[byte] ^= 0x01
            flipped = [*path[:position], bytes(changed), *path[position + 1 :]]
            yield f"byte {byte} of element {position} flipped", flipped
        yield f"element {position} dropped", path[:position] + path[position + 1 :]
    yield "extra element appended", [*path, b"\x00" * 32]
    yield "extra copy of last element appended", [*path, path[-1]] if path else [EMPTY_ROOT]
    yield "extra element prepended", [b"\x00" * 32, *path]


def _index_corruptions(value: int) -> set[int]:
    """Altered leaf_index / size1, as in transparency-dev/merkle's verify_test.go."""
    return {v for v in (value - 1, value + 1, value ^ 2) if v >= 0 and v != value}


def _size_corruptions(value: int) -> set[int]:
    """Altered tree_size / size2 (wrong tree height), as in transparency-dev/merkle's verify_test.go."""
    return {v for v in (value * 2, value // 2) if v != value}


def test_every_corrupted_inclusion_proof_is_rejected(vectors: dict[str, Any], tree: MemoryTree) -> None:
    rejected = 0
    for case in vectors["inclusion_proofs"]:
        index, size = case["leaf_index"], case["tree_size"]
        path = [_h(p) for p in case["path"]]
        root = _h(vectors["roots_by_size"][str(size)])
        leaf = tree.leaves[index]
        for description, bad_path in _path_corruptions(path):
            assert not verify_inclusion(index, size, leaf, bad_path, root), (case, description)
            rejected += 1
        for bad_index in _index_corruptions(index):
            assert not verify_inclusion(bad_index, size, leaf, path, root), (case, "leaf_index", bad_index)
            rejected += 1
        for bad_size in _size_corruptions(size):
            assert not verify_inclusion(index, bad_size, leaf, path, root), (case, "tree_size", bad_size)
            rejected += 1
        assert not verify_inclusion(index, size, leaf_hash(b"not the leaf"), path, root)
        assert not verify_inclusion(index, size, leaf, path, EMPTY_ROOT)
    assert rejected > 100


def test_every_corrupted_consistency_proof_is_rejected(vectors: dict[str, Any]) -> None:
    roots = {int(size): _h(root) for size, root in vectors["roots_by_size"].items()}
    roots[0] = EMPTY_ROOT
    for case in vectors["consistency_proofs"]:
        old, new = case["size1"], case["size2"]
        path = [_h(p) for p in case["path"]]
        for description, bad_path in _path_corruptions(path):
            assert not verify_consistency(old, new, roots[old], roots[new], bad_path), (case, description)
        for bad_old in _index_corruptions(old):
            assert not verify_consistency(bad_old, new, roots[old], roots[new], path), (case, "size1", bad_old)
        for bad_new in _size_corruptions(new):
            assert not verify_consistency(old, bad_new, roots[old], roots[new], path), (case, "size2", bad_new)
        assert not verify_consistency(old, new, leaf_hash(b"x"), roots[new], path)
        if old != new:
            assert not verify_consistency(old, new, roots[old], leaf_hash(b"x"), path)


def test_generated_proofs_verify_for_every_pair_up_to_64() -> None:
    tree = MemoryTree.from_data(f"entry {i}".encode() for i in range(64))
    for size in range(1, 65):
        root = tree.root(size)
        for index in range(size):
            assert verify_inclusion(index, size, tree.leaves[index], tree.inclusion_proof(index, size), root)
        for old in range(0, size + 1):
            proof = tree.consistency_proof(old, size)
            assert verify_consistency(old, size, tree.root(old), root, proof), (old, size)
            if old not in (0, size):
                assert not verify_consistency(old, size, tree.root(old - 1), root, proof), (old, size)
