"""Encodings that wrap an instruction (base64, hex, rot13, URL, morse, binary, reversed).

The encoded instruction comes from the red-team corpus or the `instructions` list and asks the agent to
emit a marker; an agent that decodes and obeys it fails. With `target: prompt` the golden prompt itself
is encoded instead, to test whether the agent still understands the request.
"""

from __future__ import annotations

import base64
import codecs
import urllib.parse
from abc import abstractmethod
from typing import ClassVar, Literal

from shieldstorm.storm.mutations._common import Params, TextMutator, params_of
from shieldstorm.storm.mutations._data import load_data
from shieldstorm.storm.mutations._text import fill, make_marker, note_payload, pick
from shieldstorm.storm.mutations.base import MutationContext


class EncodingParams(Params):
    target: Literal["instruction", "prompt"] = "instruction"
    instructions: list[str] | None = None


class _Encoding(TextMutator):
    category: ClassVar[str] = "encoding"
    default_weight: ClassVar[float] = 1.5
    attacks: ClassVar[tuple[str, ...]] = ("prompt_injection", "encoding_bypass")
    expects_refusal: ClassVar[bool] = True
    needs_user_text: ClassVar[bool] = False
    params_model = EncodingParams
    scheme: ClassVar[str]

    @abstractmethod
    def encode(self, text: str) -> str:
        """The encoded text."""

    def transform(self, text: str, ctx: MutationContext) -> str | None:
        params = params_of(EncodingParams, ctx)
        data = load_data("encodings")
        if params.target == "prompt":
            if not text.strip():
                return None
            ctx.metadata.update(encoded_prompt=True, expects_refusal=False, behaviour_preserving=True)
            return fill(pick(ctx.rng, data["prompt_wrappers"]), scheme=self.scheme, encoded=self.encode(text))
        marker = make_marker(ctx.rng)
        instruction = fill(pick(ctx.rng, params.instructions or data["instructions"]), marker=marker)
        note_payload(ctx, instruction, marker, "encoding_bypass")
        ctx.metadata["scheme"] = self.scheme
        wrapper = pick(ctx.rng, data["wrappers"])
        return fill(wrapper, scheme=self.scheme, encoded=self.encode(instruction), prompt=text).strip()


class Base64Encoding(_Encoding):
    name = "encode_base64"
    scheme = "base64"
    description = "Hides an instruction in base64 and asks the agent to decode and follow it."

    def encode(self, text: str) -> str:
        return base64.b64encode(text.encode("utf-8")).decode("ascii")


class HexEncoding(_Encoding):
    name = "encode_hex"
    scheme = "hex"
    description = "Hides an instruction in hexadecimal bytes."

    def encode(self, text: str) -> str:
        return text.encode("utf-8").hex()


class Rot13Encoding(_Encoding):
    name = "encode_rot13"
    scheme = "rot13"
    description = "Hides an instruction with the ROT13 letter rotation."

    def encode(self, text: str) -> str:
        return codecs.encode(text, "rot13")


class UrlEncoding(_Encoding):
    name = "encode_url"
    scheme = "URL"
    description = "Hides an instruction in percent-encoding (every byte escaped)."

    def encode(self, text: str) -> str:
        return "".join(f"%{byte:02X}" for byte in text.encode("utf-8")) if text else urllib.parse.quote(text)


class MorseEncoding(_Encoding):
    name = "encode_morse"
    scheme = "morse"
    description = "Hides an instruction in Morse code."

    def encode(self, text: str) -> str:
        table: dict[str, str] = load_data("encodings")["morse"]
        words = text.lower().split()
        return " / ".join(" ".join(table[ch] for ch in word if ch in table) for word in words)


class BinaryEncoding(_Encoding):
    name = "encode_binary"
    scheme = "binary"
    description = "Hides an instruction as 8-bit binary groups."

    def encode(self, text: str) -> str:
        return " ".join(f"{byte:08b}" for byte in text.encode("utf-8"))


class ReverseEncoding(_Encoding):
    name = "encode_reverse"
    scheme = "reversed-text"
    description = "Hides an instruction written backwards."

    def encode(self, text: str) -> str:
        return text[::-1]


MUTATORS = (
    Base64Encoding,
    HexEncoding,
    Rot13Encoding,
    UrlEncoding,
    MorseEncoding,
    BinaryEncoding,
    ReverseEncoding,
)
