"""Network ACLs (CIDR allow/deny per tenant), computed in Python because rego-cpp has no `net.*` builtins.

The lists live in the bundle's data (`data.shield.defaults.network` and `data.shield.tenants.<t>.network`,
each `{"allow": [cidr...], "deny": [cidr...]}`); a tenant's lists replace the defaults. Deny wins over
allow; a non-empty allow list admits only matching addresses; an absent or unparsable client IP is
refused whenever an allow list exists. The result is handed to Rego as `input.network`.
"""

from __future__ import annotations

import functools
import ipaddress
from dataclasses import dataclass
from typing import Any

from shieldstorm.errors import ConfigError

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class _Lists:
    allow: tuple[Network, ...]
    deny: tuple[Network, ...]


def _parse(values: Any, where: str) -> tuple[Network, ...]:
    if values is None:
        return ()
    if not isinstance(values, list):
        raise ConfigError(f"{where} must be a list of CIDRs")
    out: list[Network] = []
    for value in values:
        try:
            out.append(ipaddress.ip_network(str(value), strict=False))
        except ValueError as exc:
            raise ConfigError(f"{where}: invalid CIDR {value!r}") from exc
    return tuple(out)


def _lists(node: Any, where: str) -> _Lists | None:
    if not isinstance(node, dict):
        return None
    net = node.get("network")
    if net is None:
        return None
    if not isinstance(net, dict):
        raise ConfigError(f"{where}.network must be an object with allow/deny lists")
    return _Lists(_parse(net.get("allow"), f"{where}.network.allow"), _parse(net.get("deny"), f"{where}.network.deny"))


@functools.lru_cache(maxsize=4096)
def _address(client_ip: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """Parsed once per distinct client IP (callers repeat: parsing costs more than the ACL check itself)."""
    try:
        return ipaddress.ip_address(client_ip)
    except ValueError:
        return None


class NetworkAcl:
    """Pre-parsed CIDR lists; `check` costs a few comparisons per request."""

    def __init__(self, data: dict[str, Any]) -> None:
        shield = data.get("shield", {}) if isinstance(data, dict) else {}
        shield = shield if isinstance(shield, dict) else {}
        self._default = _lists(shield.get("defaults"), "shield.defaults") or _Lists((), ())
        tenants = shield.get("tenants", {})
        self._tenants: dict[str, _Lists] = {}
        if isinstance(tenants, dict):
            for name, node in tenants.items():
                lists = _lists(node, f"shield.tenants.{name}")
                if lists is not None:
                    self._tenants[str(name)] = lists

    def check(self, tenant: Any, client_ip: Any) -> dict[str, Any]:
        lists = self._tenants.get(str(tenant), self._default) if tenant is not None else self._default
        address = _address(str(client_ip)) if client_ip not in (None, "") else None
        if address is None:
            if lists.allow:
                return {"allowed": False, "reason": "no_client_ip", "matched": None}
            return {"allowed": True, "reason": "no_acl", "matched": None}
        for net in lists.deny:
            if address.version == net.version and address in net:
                return {"allowed": False, "reason": "denied", "matched": str(net)}
        if not lists.allow:
            return {"allowed": True, "reason": "no_allow_list", "matched": None}
        for net in lists.allow:
            if address.version == net.version and address in net:
                return {"allowed": True, "reason": "allowed", "matched": str(net)}
        return {"allowed": False, "reason": "not_in_allow_list", "matched": None}
