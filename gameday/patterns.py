"""Pure-Python Amazon EventBridge event-pattern matching.

The local simulator routes events through the rules of a synthesized
CloudFormation template.  moto's matcher cannot match into arrays of objects
(GuardDuty, Security Hub and CloudTrail events are full of them), so a rule that
works in AWS would silently never fire locally.  This module re-implements the
semantics of AWS's own matcher (the open-source ``aws/event-ruler`` library
that backs EventBridge) closely enough that "matches locally" means "matches in
AWS" for the patterns we synthesize.

How matching works, and why it is structured this way:

* The pattern is compiled into one or more *branches* (``$or`` forks the
  pattern), each a list of ``(dotted.path, value-matchers)`` leaves.  Nested
  pattern objects only contribute to the path, exactly like event-ruler, which
  joins keys with ``.`` (so ``{"a.b": [..]}`` and ``{"a": {"b": [..]}}`` are the
  same rule, a documented event-ruler quirk we keep on purpose).
* The event is flattened into leaf *fields* ``(dotted.path, scalar value,
  array membership)``.  Arrays are "crushed out" of paths: each element of an
  array contributes fields under the array's own path, tagged with which
  element of which array it came from.  Objects and arrays are never values;
  only strings, numbers, booleans and null are.
* A branch matches if every leaf can be satisfied by some event field with the
  same path, such that all chosen fields are *array consistent*: no two of them
  come from different elements of the same array.  This is what makes
  ``{"networkInterfaces": {"vpcId": ["vpc-1"], "subnetId": ["s-1"]}}`` require
  one interface with both values, not one interface with each.
* ``{"exists": false}`` is satisfied when no field with that path exists that
  is array consistent with the fields chosen so far.  Leaves are evaluated in
  sorted path order, as event-ruler does.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Final, TypeAlias, TypeGuard

__all__ = ["PatternError", "matches", "validate_pattern"]

Scalar: TypeAlias = str | int | float | bool | None
"""A JSON leaf value: the only thing a pattern leaf can be compared against."""

Predicate: TypeAlias = Callable[[Scalar], bool]
"""A test applied to one event leaf value."""

Membership: TypeAlias = tuple[tuple[int, int], ...]
"""``(array id, element index)`` pairs, outermost array first, locating a leaf."""

OR_KEY: Final = "$or"

# Operator names event-ruler refuses as field names directly inside ``$or``
# objects, because they make ``{"$or": [{"prefix": ...}]}`` ambiguous.
_OPERATORS: Final = frozenset(
    {
        "anything-but",
        "cidr",
        "equals-ignore-case",
        "exists",
        "numeric",
        "prefix",
        "suffix",
        "wildcard",
    }
)

_LOWER_BOUND_OPS: Final = frozenset({">", ">="})
_UPPER_BOUND_OPS: Final = frozenset({"<", "<="})


class PatternError(ValueError):
    """Raised for a malformed event pattern.

    Subclasses ``ValueError`` so callers that load rules from a template can
    treat a bad pattern like any other bad input, while still being able to
    catch pattern problems specifically.
    """


# ---------------------------------------------------------------------------
# Public API
# ---------------------------------------------------------------------------


def validate_pattern(pattern: dict[str, Any]) -> None:
    """Raise :class:`PatternError` if ``pattern`` is not a valid event pattern.

    EventBridge rejects malformed patterns at ``PutRule`` time; the simulator
    calls this when loading a template so a broken rule fails loudly at
    synthesis instead of silently never matching.
    """
    _compile(pattern)


def matches(pattern: dict[str, Any], event: dict[str, Any]) -> bool:
    """Return whether ``event`` matches the EventBridge ``pattern``.

    The pattern is validated first (raising :class:`PatternError`), because a
    pattern AWS would reject must not appear to work in the simulator.
    """
    branches = _compile_cached(pattern)
    fields = _index_fields(event)
    return any(_branch_matches(branch, fields) for branch in branches)


# ---------------------------------------------------------------------------
# Compiled representation
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _Leaf:
    """One pattern leaf: a dotted path and the OR of its value matchers.

    ``predicates`` test a present event value; ``accepts_absent`` is set when
    the leaf includes ``{"exists": false}`` and so is also satisfied when no
    (array-consistent) field with this path exists.
    """

    path: str
    predicates: tuple[Predicate, ...]
    accepts_absent: bool


_Branch: TypeAlias = "tuple[_Leaf, ...]"


@dataclass(frozen=True)
class _Field:
    """One flattened event leaf value and where it sits inside arrays."""

    value: Scalar
    membership: Membership


def _compile_cached(pattern: dict[str, Any]) -> tuple[_Branch, ...]:
    """Compile ``pattern``, reusing earlier work for identical patterns.

    Rules are matched against every simulated event, so recompiling (and
    re-validating) the same pattern each time would be wasted effort.
    Patterns are dicts, hence unhashable; their canonical JSON is the key.
    """
    try:
        key = json.dumps(pattern, sort_keys=True, allow_nan=False)
    except (TypeError, ValueError):
        # Not JSON-serialisable: compile uncached so _compile reports why.
        return _compile(pattern)
    return _compile_json(key)


@lru_cache(maxsize=512)
def _compile_json(key: str) -> tuple[_Branch, ...]:
    """Compile a pattern given as canonical JSON text (the cache key)."""
    return _compile(json.loads(key))


def _compile(pattern: Any) -> tuple[_Branch, ...]:
    """Validate ``pattern`` and compile it into sorted ``$or`` branches."""
    if not isinstance(pattern, dict):
        raise PatternError(f"Event pattern must be a JSON object, got {_type_name(pattern)}")
    branches = _compile_object(pattern, prefix="", inside_or=False, branches=[{}])
    return tuple(tuple(branch[path] for path in sorted(branch)) for branch in branches)


def _compile_object(
    obj: Mapping[str, Any],
    prefix: str,
    inside_or: bool,
    branches: list[dict[str, _Leaf]],
) -> list[dict[str, _Leaf]]:
    """Fold the keys of one pattern object into ``branches``.

    Each branch maps a dotted path to its leaf.  ``$or`` multiplies the
    branches: every existing branch is combined with each alternative, which
    gives ``$or`` its "at any level, AND-ed with siblings" meaning.
    """
    if not obj:
        raise PatternError(f"Empty objects are not allowed (at {_where(prefix)})")
    for key, value in obj.items():
        if not isinstance(key, str):
            raise PatternError(f"Pattern keys must be strings, got {key!r} (at {_where(prefix)})")
        if key == OR_KEY:
            branches = _compile_or(value, prefix, branches)
            continue
        path = f"{prefix}.{key}" if prefix else key
        if inside_or and key in _OPERATORS:
            raise PatternError(
                f'"{key}" is an operator and cannot be used as a field name inside "$or" '
                f"(at {_where(path)}); put it in a value array instead"
            )
        if isinstance(value, dict):
            branches = _compile_object(value, path, inside_or, branches)
        elif isinstance(value, list):
            leaf = _compile_leaf(path, value)
            branches = [{**branch, path: leaf} for branch in branches]
        else:
            raise PatternError(
                f'"{path}" must be an object or an array, got {_type_name(value)} {value!r}; '
                'leaf values are always arrays, e.g. ["value"]'
            )
    return branches


def _compile_or(alternatives: Any, prefix: str, branches: list[dict[str, _Leaf]]) -> list[dict[str, _Leaf]]:
    """Expand a ``$or`` array into the cross product with ``branches``."""
    where = _where(f"{prefix}.{OR_KEY}" if prefix else OR_KEY)
    if not isinstance(alternatives, list):
        raise PatternError(f'"$or" must be an array of objects (at {where})')
    if len(alternatives) < 2:
        raise PatternError(f'"$or" needs at least 2 objects (at {where})')
    expanded: list[dict[str, _Leaf]] = []
    for alternative in alternatives:
        if not isinstance(alternative, dict):
            raise PatternError(f'Only objects are allowed in a "$or" array, got {_type_name(alternative)} (at {where})')
        expanded.extend(
            _compile_object(
                alternative,
                prefix,
                inside_or=True,
                branches=[dict(b) for b in branches],
            )
        )
    return expanded


def _compile_leaf(path: str, values: list[Any]) -> _Leaf:
    """Compile a leaf array: its elements are OR-ed value matchers."""
    if not values:
        raise PatternError(f'Empty arrays are not allowed (at "{path}")')
    predicates: list[Predicate] = []
    accepts_absent = False
    for value in values:
        if isinstance(value, dict):
            operator, predicate = _compile_operator(path, value)
            if operator == "exists" and predicate is None:
                accepts_absent = True
            elif predicate is not None:
                predicates.append(predicate)
        elif value is None or isinstance(value, (str, bool, int, float)):
            predicates.append(_equals(value))
        else:
            raise PatternError(
                f"Match values must be a string, number, true, false, null or an operator object; "
                f'got {_type_name(value)} (at "{path}")'
            )
    return _Leaf(path=path, predicates=tuple(predicates), accepts_absent=accepts_absent)


def _compile_operator(path: str, spec: dict[str, Any]) -> tuple[str, Predicate | None]:
    """Compile one ``{"operator": argument}`` object.

    Returns the operator name and its predicate; ``exists: false`` returns a
    ``None`` predicate because it is about absence, not about a value.
    """
    where = f'(at "{path}")'
    if len(spec) != 1:
        raise PatternError(f"A match expression must have exactly one operator, got {sorted(spec)} {where}")
    ((operator, arg),) = spec.items()
    if operator == "prefix":
        return operator, _compile_affix(arg, operator, where, str.startswith)
    if operator == "suffix":
        return operator, _compile_affix(arg, operator, where, str.endswith)
    if operator == "equals-ignore-case":
        text = _require_str(arg, operator, where)
        return operator, _ignore_case_equals((text,))
    if operator == "wildcard":
        return operator, _wildcard((_compile_wildcard(_require_str(arg, operator, where), where),))
    if operator == "anything-but":
        return operator, _compile_anything_but(arg, where)
    if operator == "numeric":
        return operator, _compile_numeric(arg, where)
    if operator == "cidr":
        return operator, _compile_cidr(arg, where)
    if operator == "exists":
        if not isinstance(arg, bool):
            raise PatternError(f"exists must be true or false, got {arg!r} {where}")
        # exists:true is satisfied by any leaf value, including null.
        return operator, (_any_value if arg else None)
    raise PatternError(f'Unrecognized match type "{operator}" {where}')


def _compile_affix(arg: Any, operator: str, where: str, test: Callable[[str, str], bool]) -> Predicate:
    """Compile ``prefix``/``suffix``, plain or ``{"equals-ignore-case": ..}``."""
    if isinstance(arg, dict):
        if list(arg) != ["equals-ignore-case"]:
            raise PatternError(
                f'{operator} accepts a string or {{"equals-ignore-case": "<string>"}}, got {arg!r} {where}'
            )
        needle = _require_str(arg["equals-ignore-case"], f"{operator}/equals-ignore-case", where).lower()

        def ignore_case(value: Scalar) -> bool:
            return isinstance(value, str) and test(value.lower(), needle)

        return ignore_case
    text = _require_str(arg, operator, where)

    def exact_case(value: Scalar) -> bool:
        return isinstance(value, str) and test(value, text)

    return exact_case


def _compile_anything_but(arg: Any, where: str) -> Predicate:
    """Compile ``anything-but``: the negation of an inner match.

    Negation is per value: an event array matches if any element is not
    excluded.  A JSON null or boolean is never excluded (AWS matches
    ``anything-but`` against a null value), but a *missing* field never
    matches, because there is no value to test.
    """
    if isinstance(arg, dict):
        if len(arg) != 1:
            raise PatternError(f"anything-but accepts exactly one nested operator, got {sorted(arg)} {where}")
        ((inner, inner_arg),) = arg.items()
        if inner not in ("prefix", "suffix", "equals-ignore-case", "wildcard"):
            raise PatternError(
                f'Unsupported anything-but pattern "{inner}"; expected prefix, suffix, '
                f"equals-ignore-case or wildcard {where}"
            )
        texts = _require_str_or_str_list(inner_arg, f"anything-but/{inner}", where)
        if inner in ("prefix", "suffix"):
            if any(text == "" for text in texts):
                raise PatternError(f"anything-but/{inner} must not be empty {where}")
            test = str.startswith if inner == "prefix" else str.endswith

            def excluded_affix(value: Scalar) -> bool:
                return isinstance(value, str) and any(test(value, text) for text in texts)

            return _negate(excluded_affix)
        if inner == "equals-ignore-case":
            return _negate(_ignore_case_equals(texts))
        return _negate(_wildcard(tuple(_compile_wildcard(text, where) for text in texts)))

    excluded: list[str | int | float] = []
    items: list[Any] = arg if isinstance(arg, list) else [arg]
    if isinstance(arg, list) and not arg:
        raise PatternError(f"anything-but list must not be empty {where}")
    for item in items:
        if isinstance(item, bool) or not isinstance(item, (str, int, float)):
            raise PatternError(
                f"anything-but values must be strings or numbers (not null, boolean or objects), got {item!r} {where}"
            )
        excluded.append(item)
    if len({isinstance(item, str) for item in excluded}) > 1:
        raise PatternError(
            f"anything-but list must be all strings or all numbers, mixed types are not supported {where}"
        )
    return _negate(_any_of(tuple(_equals(item) for item in excluded)))


def _compile_numeric(arg: Any, where: str) -> Predicate:
    """Compile ``numeric``: ``["=", n]``, ``[">"|">=", n]``, ``["<"|"<=", n]``
    or a lower bound followed by an upper bound, as event-ruler accepts.

    Only JSON numbers can match; the string ``"5"`` never does.
    """
    if not isinstance(arg, list) or not arg:
        raise PatternError(f'numeric must be a non-empty array like [">", 0, "<=", 5], got {arg!r} {where}')
    if len(arg) not in (2, 4):
        raise PatternError(f"numeric must hold one or two operator/number pairs, got {arg!r} {where}")
    pairs: list[tuple[str, float]] = []
    for op, operand in zip(arg[0::2], arg[1::2], strict=True):
        if op not in ("=", *_LOWER_BOUND_OPS, *_UPPER_BOUND_OPS):
            raise PatternError(f"Unrecognized numeric operator {op!r} {where}")
        if not _is_number(operand):
            raise PatternError(f"Value of {op} must be numeric, got {operand!r} {where}")
        pairs.append((op, float(operand)))
    if len(pairs) == 2:
        (low_op, low), (high_op, high) = pairs
        if low_op not in _LOWER_BOUND_OPS or high_op not in _UPPER_BOUND_OPS:
            raise PatternError(
                f"A numeric range must be a lower bound (> or >=) followed by an upper bound (< or <=), "
                f"got {arg!r} {where}"
            )
        if low >= high:
            raise PatternError(f"Bottom must be less than top in numeric range {arg!r} {where}")

    def in_range(value: Scalar) -> bool:
        if not _is_number(value):
            return False
        return all(_compare(float(value), op, operand) for op, operand in pairs)

    return in_range


def _compile_cidr(arg: Any, where: str) -> Predicate:
    """Compile ``cidr`` (IPv4 or IPv6); only string values that parse as an
    IP address of the same family and fall inside the block match."""
    text = _require_str(arg, "cidr", where)
    if "/" not in text:
        raise PatternError(f"cidr must be in CIDR notation like 10.0.0.0/24, got {text!r} {where}")
    try:
        network = ipaddress.ip_network(text, strict=False)
    except ValueError as exc:
        raise PatternError(f"Invalid cidr {text!r}: {exc} {where}") from exc

    def in_network(value: Scalar) -> bool:
        if not isinstance(value, str):
            return False
        try:
            address = ipaddress.ip_address(value)
        except ValueError:
            return False
        return address.version == network.version and address in network

    return in_network


def _compile_wildcard(text: str, where: str) -> re.Pattern[str]:
    """Translate a wildcard expression into an anchored regex.

    ``*`` matches zero or more characters; ``\\*`` is a literal asterisk and
    ``\\\\`` a literal backslash.  Like event-ruler we reject consecutive
    ``**`` (pathologically slow to match) and any other backslash escape.
    """
    parts: list[str] = []
    index = 0
    previous_was_star = False
    while index < len(text):
        char = text[index]
        if char == "\\":
            following = text[index + 1 : index + 2]
            if following not in ("*", "\\"):
                raise PatternError(f"Invalid wildcard {text!r}: a backslash may only escape '*' or '\\' {where}")
            parts.append(re.escape(following))
            index += 2
            previous_was_star = False
            continue
        if char == "*":
            if previous_was_star:
                raise PatternError(f"Invalid wildcard {text!r}: consecutive '*' are not allowed {where}")
            parts.append(".*")
            previous_was_star = True
        else:
            parts.append(re.escape(char))
            previous_was_star = False
        index += 1
    return re.compile("".join(parts), re.DOTALL)


# ---------------------------------------------------------------------------
# Predicate building blocks
# ---------------------------------------------------------------------------


def _equals(expected: Scalar) -> Predicate:
    """Exact, type-aware equality.

    Strings match strings and booleans match booleans (``"true"`` never
    matches ``true``).  Numbers compare numerically, so ``5`` matches
    ``5.0``; ``True`` is kept apart from ``1`` even though Python equates them.
    """
    if _is_number(expected):

        def number_equals(value: Scalar) -> bool:
            return _is_number(value) and value == expected

        return number_equals

    def same_type_equals(value: Scalar) -> bool:
        return type(value) is type(expected) and value == expected

    return same_type_equals


def _ignore_case_equals(texts: Sequence[str]) -> Predicate:
    """Case-insensitive string equality against any of ``texts``."""
    lowered = frozenset(text.lower() for text in texts)

    def predicate(value: Scalar) -> bool:
        return isinstance(value, str) and value.lower() in lowered

    return predicate


def _wildcard(regexes: Sequence[re.Pattern[str]]) -> Predicate:
    """Full-string wildcard match against any of ``regexes``."""

    def predicate(value: Scalar) -> bool:
        return isinstance(value, str) and any(regex.fullmatch(value) for regex in regexes)

    return predicate


def _any_of(predicates: Sequence[Predicate]) -> Predicate:
    """OR several predicates together."""

    def predicate(value: Scalar) -> bool:
        return any(p(value) for p in predicates)

    return predicate


def _negate(predicate: Predicate) -> Predicate:
    """Logical NOT of ``predicate`` (used by anything-but)."""

    def negated(value: Scalar) -> bool:
        return not predicate(value)

    return negated


def _any_value(value: Scalar) -> bool:
    """``exists: true``: any present leaf value matches, null included."""
    return True


def _compare(number: float, op: str, operand: float) -> bool:
    """Apply one numeric comparison operator."""
    if op == "=":
        return number == operand
    if op == ">":
        return number > operand
    if op == ">=":
        return number >= operand
    if op == "<":
        return number < operand
    return number <= operand  # "<=", the only operator left after validation


def _is_number(value: object) -> TypeGuard[int | float]:
    """JSON number test: Python's ``bool`` is an ``int`` but not a number here."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _require_str(arg: Any, operator: str, where: str) -> str:
    """Return ``arg`` if it is a string, else raise a helpful PatternError."""
    if not isinstance(arg, str):
        raise PatternError(f"{operator} match pattern must be a string, got {arg!r} {where}")
    return arg


def _require_str_or_str_list(arg: Any, operator: str, where: str) -> tuple[str, ...]:
    """Return ``arg`` as a tuple of strings (a string or a non-empty list of them)."""
    if isinstance(arg, str):
        return (arg,)
    if isinstance(arg, list) and arg and all(isinstance(item, str) for item in arg):
        return tuple(arg)
    raise PatternError(f"{operator} must be a string or a non-empty array of strings, got {arg!r} {where}")


def _type_name(value: object) -> str:
    """JSON-flavoured type name for error messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def _where(path: str) -> str:
    """Human-readable location of a pattern node for error messages."""
    return f'"{path}"' if path else "the top level"


# ---------------------------------------------------------------------------
# Event flattening and array-consistent search
# ---------------------------------------------------------------------------


def _index_fields(event: Mapping[str, Any]) -> dict[str, list[_Field]]:
    """Flatten ``event`` into leaf fields grouped by dotted path."""
    index: dict[str, list[_Field]] = {}
    counter = iter(range(1 << 62))
    for path, value, membership in _flatten(event, "", (), counter):
        index.setdefault(path, []).append(_Field(value=value, membership=membership))
    return index


def _flatten(
    node: Any, path: str, membership: Membership, counter: Iterator[int]
) -> Iterator[tuple[str, Scalar, Membership]]:
    """Yield ``(path, leaf value, membership)`` for every leaf under ``node``.

    Arrays do not add a path segment (EventBridge "crushes" them out), but each
    array instance gets a unique id and each element records its index, so the
    matcher can refuse to combine values from different elements.
    """
    if isinstance(node, dict):
        for key, child in node.items():
            yield from _flatten(child, f"{path}.{key}" if path else str(key), membership, counter)
    elif isinstance(node, list):
        array_id = next(counter)
        for position, child in enumerate(node):
            yield from _flatten(child, path, (*membership, (array_id, position)), counter)
    elif path:
        yield path, node, membership


def _consistent(chosen: dict[int, int], membership: Membership) -> bool:
    """True if ``membership`` picks the same element of every array already pinned."""
    return all(chosen.get(array_id, position) == position for array_id, position in membership)


def _branch_matches(branch: _Branch, fields: Mapping[str, list[_Field]]) -> bool:
    """Backtracking search for an array-consistent assignment of fields to leaves."""

    def search(leaf_index: int, chosen: dict[int, int]) -> bool:
        if leaf_index == len(branch):
            return True
        leaf = branch[leaf_index]
        candidates = [f for f in fields.get(leaf.path, ()) if _consistent(chosen, f.membership)]
        for candidate in candidates:
            if any(predicate(candidate.value) for predicate in leaf.predicates) and search(
                leaf_index + 1, {**chosen, **dict(candidate.membership)}
            ):
                return True
        return leaf.accepts_absent and not candidates and search(leaf_index + 1, chosen)

    return search(0, {})
