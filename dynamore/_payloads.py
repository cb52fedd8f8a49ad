"""Wire payloads of the DynamoDB operations, built from plain Python arguments (no I/O).

Values in expressions are Python values, encoded here with :mod:`dynamore.codec`; names and
expressions pass through as written.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from dynamore.codec import encode_item
from dynamore.exceptions import ValidationError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Literal, Optional, TypeAlias, Union

__all__ = [
    "Item",
    "Names",
    "Projection",
    "ReturnValues",
    "ReturnValuesOnFailure",
    "Values",
    "check_return_values",
    "create_table_payload",
    "expression_parts",
    "query_payload",
    "scan_payload",
    "transact_action",
    "transact_get_entry",
    "write_payload",
]

# Type aliases written as text: typing is imported for the type checker only (it cost every
# Lambda cold start ~4 ms), and annotations are never evaluated at run time.
Item = dict[str, "Any"]
Names: TypeAlias = "Optional[Mapping[str, str]]"
Values: TypeAlias = "Optional[Mapping[str, Any]]"
Projection: TypeAlias = "Optional[Union[str, Sequence[str]]]"
#: What a write returns: ``ReturnValues``.
ReturnValues: TypeAlias = 'Literal["NONE", "ALL_OLD", "UPDATED_OLD", "ALL_NEW", "UPDATED_NEW"]'
#: What a failed condition returns: ``ReturnValuesOnConditionCheckFailure``.
ReturnValuesOnFailure: TypeAlias = 'Literal["NONE", "ALL_OLD"]'

# Checked at run time too: a typo must not wait for DynamoDB's ValidationException.
# (tests/test_payloads.py checks these against the Literal types above.)
_RETURN_VALUES = frozenset({"NONE", "ALL_OLD", "UPDATED_OLD", "ALL_NEW", "UPDATED_NEW"})
_RETURN_VALUES_ON_FAILURE = frozenset({"NONE", "ALL_OLD"})
_TRANSACT_KINDS = ("Put", "Update", "Delete", "ConditionCheck")


def expression_parts(
    payload: dict[str, Any], names: Names, values: Values, projection: Projection = None
) -> None:
    all_names = dict(names) if names else {}
    if projection is not None:
        if isinstance(projection, str):
            payload["ProjectionExpression"] = projection
        else:
            # Attribute names like "name" or "size" are reserved words: placeholders always work.
            placeholders = []
            for i, attribute in enumerate(projection):
                placeholder = f"#proj{i}"
                if placeholder in all_names:
                    raise ValidationError(
                        "names", f"{placeholder} is used by projection lists; pick another name"
                    )
                all_names[placeholder] = attribute
                placeholders.append(placeholder)
            payload["ProjectionExpression"] = ", ".join(placeholders)
    if all_names:
        payload["ExpressionAttributeNames"] = all_names
    if values:
        payload["ExpressionAttributeValues"] = encode_item(values)


def check_return_values(value: Optional[str], argument: str = "return_values") -> None:
    if value is not None and value not in _RETURN_VALUES:
        raise ValidationError(argument, f"must be one of {sorted(_RETURN_VALUES)}, not {value!r}")


def write_payload(
    table: str,
    *,
    condition: Optional[str],
    names: Names,
    values: Values,
    return_values: Optional[ReturnValues],
    return_values_on_failure: Optional[ReturnValuesOnFailure],
) -> dict[str, Any]:
    check_return_values(return_values)
    payload: dict[str, Any] = {"TableName": table}
    if condition is not None:
        payload["ConditionExpression"] = condition
    expression_parts(payload, names, values)
    if return_values is not None:
        payload["ReturnValues"] = return_values
    if return_values_on_failure is not None:
        if return_values_on_failure not in _RETURN_VALUES_ON_FAILURE:
            raise ValidationError("return_values_on_failure", "must be 'ALL_OLD' or 'NONE'")
        payload["ReturnValuesOnConditionCheckFailure"] = return_values_on_failure
    return payload


def _read_payload(
    payload: dict[str, Any],
    *,
    names: Names,
    values: Values,
    index: Optional[str],
    filter: Optional[str],
    projection: Projection,
    limit: Optional[int],
    consistent: bool,
    start_key: Optional[Mapping[str, Any]],
) -> dict[str, Any]:
    """The options Query and Scan share, added to ``payload``."""
    if index is not None:
        payload["IndexName"] = index
    if filter is not None:
        payload["FilterExpression"] = filter
    if limit is not None:
        payload["Limit"] = limit
    if consistent:
        payload["ConsistentRead"] = True
    if start_key is not None:
        payload["ExclusiveStartKey"] = encode_item(start_key)
    expression_parts(payload, names, values, projection)
    return payload


def query_payload(
    table: str,
    key_condition: str,
    *,
    forward: bool,
    **options: Any,
) -> dict[str, Any]:
    """Query's payload; ``options`` are :func:`_read_payload`'s."""
    payload: dict[str, Any] = {"TableName": table, "KeyConditionExpression": key_condition}
    if not forward:
        payload["ScanIndexForward"] = False
    return _read_payload(payload, **options)


def scan_payload(
    table: str,
    *,
    segment: Optional[int],
    total_segments: Optional[int],
    **options: Any,
) -> dict[str, Any]:
    """Scan's payload (one ``segment`` of ``total_segments`` when given)."""
    payload: dict[str, Any] = {"TableName": table}
    if total_segments is not None:
        payload["Segment"] = segment or 0
        payload["TotalSegments"] = total_segments
    return _read_payload(payload, **options)


def _required(spec: Mapping[str, Any], field: str, where: str) -> Any:
    try:
        return spec[field]
    except (KeyError, TypeError):
        raise ValidationError(f"{where}.{field}", "is required") from None


def transact_action(action: Mapping[str, Mapping[str, Any]], where: str) -> dict[str, Any]:
    """One entry of TransactItems from ``{"Put" | "Update" | "Delete" | "ConditionCheck":
    {"table": ..., "item" or "key": ..., "condition": ..., "names": ..., "values": ...}}``;
    ``where`` names the entry in errors (``actions[3]``)."""
    if (
        not isinstance(action, Mapping)
        or len(action) != 1
        or next(iter(action)) not in _TRANSACT_KINDS
    ):
        raise ValidationError(
            where, f"each action is a dict with one key of {list(_TRANSACT_KINDS)}"
        )
    kind, spec = next(iter(action.items()))
    where = f"{where}.{kind}"
    body: dict[str, Any] = {"TableName": _required(spec, "table", where)}
    if kind == "Put":
        body["Item"] = encode_item(_required(spec, "item", where))
    else:
        body["Key"] = encode_item(_required(spec, "key", where))
    if kind == "Update":
        body["UpdateExpression"] = _required(spec, "update", where)
    if spec.get("condition") is not None:
        body["ConditionExpression"] = spec["condition"]
    elif kind == "ConditionCheck":
        raise ValidationError(f"{where}.condition", "a ConditionCheck needs a condition")
    expression_parts(body, spec.get("names"), spec.get("values"))
    on_failure = spec.get("return_values_on_failure")
    if on_failure is not None:
        if on_failure not in ("ALL_OLD", "NONE"):
            raise ValidationError(
                f"{where}.return_values_on_failure", "must be 'ALL_OLD' or 'NONE'"
            )
        body["ReturnValuesOnConditionCheckFailure"] = on_failure
    return {kind: body}


def transact_get_entry(
    entry: Union[tuple[str, Mapping[str, Any]], Mapping[str, Any]], where: str
) -> dict[str, Any]:
    """One entry of TransactGetItems from ``(table, key)`` or ``{"table", "key",
    "projection"}``."""
    if isinstance(entry, tuple):
        if len(entry) != 2:
            raise ValidationError(where, "must be (table, key) or a dict")
        table, key = entry
        spec: Mapping[str, Any] = {"table": table, "key": key}
    else:
        spec = entry
    body: dict[str, Any] = {
        "TableName": _required(spec, "table", where),
        "Key": encode_item(_required(spec, "key", where)),
    }
    expression_parts(body, None, None, spec.get("projection"))
    return {"Get": body}


def create_table_payload(
    name: str,
    *,
    pk: str,
    sk: Optional[str],
    pk_type: str,
    sk_type: str,
    indexes: Sequence[Mapping[str, Any]],
) -> dict[str, Any]:
    """CreateTable's payload: an on-demand table with string keys and ``indexes`` as GSIs."""
    types = {pk: pk_type}
    schema = [{"AttributeName": pk, "KeyType": "HASH"}]
    if sk is not None:
        types[sk] = sk_type
        schema.append({"AttributeName": sk, "KeyType": "RANGE"})
    gsis: list[dict[str, Any]] = []
    for index in indexes:
        where = f"indexes[{len(gsis)}]"
        index_name = _required(index, "name", where)
        index_pk = _required(index, "pk", where)
        index_schema = [{"AttributeName": index_pk, "KeyType": "HASH"}]
        types[index_pk] = index.get("pk_type", "S")
        if index.get("sk"):
            index_schema.append({"AttributeName": index["sk"], "KeyType": "RANGE"})
            types[index["sk"]] = index.get("sk_type", "S")
        gsis.append(
            {
                "IndexName": index_name,
                "KeySchema": index_schema,
                "Projection": {"ProjectionType": "ALL"},
            }
        )
    payload: dict[str, Any] = {
        "TableName": name,
        "AttributeDefinitions": [
            {"AttributeName": a, "AttributeType": t} for a, t in types.items()
        ],
        "KeySchema": schema,
        "BillingMode": "PAY_PER_REQUEST",
    }
    if gsis:
        payload["GlobalSecondaryIndexes"] = gsis
    return payload
