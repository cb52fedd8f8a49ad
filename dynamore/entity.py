"""``Entity``: a JSON-Schema-described item type stored in a single DynamoDB table.

Subclass it, set ``SCHEMA`` (its ``title`` names the entity type and becomes the partition key)
and ``ID_ATTRIBUTE`` (the attribute whose value becomes the sort key)::

    class Person(Entity):
        SCHEMA = {"title": "PERSON", "type": "object",
                  "properties": {"id_number": {"type": "string"}, "name": {"type": "string"}},
                  "required": ["id_number", "name"]}
        ID_ATTRIBUTE = "id_number"

The schema is checked and compiled (fastjsonschema) once, when the class is created: an
invalid schema raises :class:`~dynamore.exceptions.SchemaError` right there, and keywords JSON
Schema would silently ignore (``"min"`` for ``"minimum"``) draw a
:class:`~dynamore.exceptions.SchemaWarning`. dynamore 0.1's custom ``"type": "uuid4"`` is
accepted: a string holding a UUID.

Storage layout: ``PK`` = :meth:`Entity.partition_value` (the schema's title), ``SK`` = the id
value (``PERSON`` / ``123456``). Tables written by dynamore 0.1.x, which stored
``SK = "#PERSON#123456"``, are read and written by setting
``SORT_KEY_FORMAT = LEGACY_SORT_KEY_FORMAT`` on the entity class. ``PARTITION_SHARDS = N``
spreads a type over N partitions, ``PERSON#0`` to ``PERSON#{N-1}`` (see :mod:`dynamore._shards`).

``Entity(data)`` checks ``data`` against ``SCHEMA`` and nothing else, as in dynamore 0.1 (the
base class itself takes ``Entity({})``); what a verb needs beyond that, an id that makes a
usable key and no key attributes of its own, is checked by the verb (:meth:`Entity.key_for`,
:meth:`Entity.identity`, :meth:`Entity.check_keys_absent`).
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any, ClassVar, NamedTuple, Optional

from dynamore._indexkeys import IndexSpec, index_attributes, parse_indexes
from dynamore._managed import NOT_MANAGED, Managed, parse_managed
from dynamore._schema import (
    Validator,
    check_id_attribute,
    check_types,
    compile_validator,
    has_cross_attribute_rules,
    id_types,
    patch_schema,
    warn_unknown_keywords,
    without_required,
)
from dynamore._shards import check_shards, partition_for, partitions
from dynamore.exceptions import SchemaError, ValidationError

__all__ = [
    "LEGACY_SORT_KEY_FORMAT",
    "MAX_PARTITION_KEY_BYTES",
    "MAX_SORT_KEY_BYTES",
    "SORT_KEY_FORMAT",
    "Entity",
]

SORT_KEY_FORMAT = "{id}"
LEGACY_SORT_KEY_FORMAT = "#{title}#{id}"

#: DynamoDB's limits on key values, in UTF-8 bytes.
MAX_PARTITION_KEY_BYTES = 2048
MAX_SORT_KEY_BYTES = 1024
# Strings this short are within those limits whatever their characters (4 UTF-8 bytes each).
_PK_CHARS, _SK_CHARS = MAX_PARTITION_KEY_BYTES // 4, MAX_SORT_KEY_BYTES // 4


class _Validators(NamedTuple):
    full: Validator
    patch: Optional[Validator]  # None: the schema ties attributes together


def _check_key_value(name: str, value: Any, limit: int, what: str) -> None:
    if type(value) is str:
        # Four UTF-8 bytes per character at most: only long strings need encoding.
        if value and (len(value) * 4 <= limit or len(value.encode("utf-8")) <= limit):
            return
    elif type(value) is bytes:
        if value and len(value) <= limit:
            return
    elif isinstance(value, (int, Decimal)) and not isinstance(value, bool):
        return
    if not value:
        raise ValidationError(name, f"the {what} value is empty; DynamoDB refuses empty keys")
    size = len(value.encode("utf-8")) if isinstance(value, str) else len(value)
    if isinstance(value, (str, bytes)):
        raise ValidationError(
            name, f"the {what} value is {size} bytes, over DynamoDB's limit of {limit} bytes"
        )
    raise ValidationError(name, f"a key value must be a string, not {type(value).__name__}")


class Entity:
    """Base class of stored entity types; see the module docstring.

    Overridable class methods (as in dynamore 0.1): :meth:`pr_keys`, :meth:`make_identity`,
    :meth:`pre`, :meth:`post`, and :meth:`partition_value`; instance hook
    :meth:`add_dynamic_attributes`. ``Entity(data)`` validates ``data`` against ``SCHEMA`` and
    raises ValidationError (a ValueError) if it is not valid.
    """

    SCHEMA: ClassVar[dict[str, Any]] = {
        "title": "ENTITY",
        "type": "object",
        "required": [],
        "properties": {},
        "additionalProperties": False,
    }
    ID_ATTRIBUTE: ClassVar[str] = "uid"
    SORT_KEY_FORMAT: ClassVar[str] = SORT_KEY_FORMAT
    LEGACY_SORT_KEY_FORMAT: ClassVar[str] = LEGACY_SORT_KEY_FORMAT
    #: Secondary indexes, by name: ``{"GSI1": {"partition": [...], "sort": [...]}}`` (see
    #: :mod:`dynamore._indexkeys`); checked when the class is created.
    INDEXES: ClassVar[dict[str, Any]] = {}
    #: Opt-in attributes the store keeps (see the README, "Versions, timestamps, expiry"):
    #: the version (1 on post, + 1 on every put and patch, ``if_match=`` conditions on it),
    #: the (created, updated) ISO 8601 timestamps, and the expiry time in epoch seconds.
    VERSION_ATTRIBUTE: ClassVar[Optional[str]] = None
    TIMESTAMPS: ClassVar[Optional[tuple[str, str]]] = None
    TTL_ATTRIBUTE: ClassVar[Optional[str]] = None
    #: Write sharding: None keeps every item in one partition (dynamore 0.1's layout); N
    #: spreads the items over N partitions by a stable hash of the sort key (see
    #: :mod:`dynamore._shards` for the layout). Listing and queries read them all.
    PARTITION_SHARDS: ClassVar[Optional[int]] = None

    # Built once per class by _prepare (for Entity itself on first use, so that importing
    # this module compiles nothing).
    _validators: ClassVar[_Validators]
    _title: ClassVar[str] = "ENTITY"
    _id_types: ClassVar[Optional[tuple[tuple[type, ...], str]]] = None  # see _schema.id_types
    _indexes: ClassVar[dict[str, IndexSpec]] = {}  # INDEXES, parsed
    _index_keys: ClassVar[frozenset[str]] = frozenset()  # their key attributes (NPK, NSK)
    _managed: ClassVar[Managed] = NOT_MANAGED  # VERSION_ATTRIBUTE, TIMESTAMPS, TTL_ATTRIBUTE
    # What strip_keys drops: the table's keys, the index keys and the write token.
    _unreturned: ClassVar[frozenset[str]] = frozenset(("PK", "SK"))
    _shards: ClassVar[Optional[int]] = None  # PARTITION_SHARDS, checked
    _keys: ClassVar[tuple[str, str]] = ("PK", "SK")  # pr_keys(), checked
    # Every attribute data may not set: the table's keys, then the index keys.
    _reserved: ClassVar[frozenset[str]] = frozenset(("PK", "SK"))

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._prepare()

    @classmethod
    def _prepare(cls) -> None:
        schema = cls.SCHEMA
        owner = cls.__qualname__
        if not isinstance(schema, dict):
            raise SchemaError(f"{owner}.SCHEMA", "must be a dict (a JSON Schema)")
        title = schema.get("title")
        if not isinstance(title, str) or not title:
            raise SchemaError(f"{owner}.SCHEMA", "needs a non-empty string 'title'")
        if not isinstance(cls.ID_ATTRIBUTE, str) or not cls.ID_ATTRIBUTE:
            raise SchemaError(f"{owner}.ID_ATTRIBUTE", "must name the id attribute")
        keys = cls.pr_keys()
        if len(keys) != 2 or not all(isinstance(k, str) and k for k in keys):
            raise SchemaError(f"{owner}.pr_keys", "must return two attribute names")
        if cls.ID_ATTRIBUTE in keys:
            raise SchemaError(f"{owner}.ID_ATTRIBUTE", f"cannot be a key attribute {keys}")
        warn_unknown_keywords(schema, owner, stacklevel=4)
        check_types(schema, owner)
        cls._title = title
        cls._shards = check_shards(cls.PARTITION_SHARDS, owner)
        managed = parse_managed(
            version=cls.VERSION_ATTRIBUTE,
            timestamps=cls.TIMESTAMPS,
            ttl=cls.TTL_ATTRIBUTE,
            reserved=(*keys, cls.ID_ATTRIBUTE),
            owner=owner,
        )
        full = compile_validator(without_required(schema, managed.owned), owner)
        # A partial update can be validated on its own only when no rule ties attributes
        # together; otherwise patch validates the merged item (see dynamodb_proxy).
        patch = (
            None
            if has_cross_attribute_rules(schema)
            else compile_validator(patch_schema(schema), owner)
        )
        # Entity's own placeholder SCHEMA has no id: a class that keeps it is a base for
        # others (Entity itself, a mixin of hooks), not a type that is stored.
        if schema is not Entity.SCHEMA:
            check_id_attribute(schema, cls.ID_ATTRIBUTE, owner)
        cls._validators = _Validators(full, patch)
        cls._id_types = id_types(schema, cls.ID_ATTRIBUTE)
        indexes = cls.INDEXES
        cls._indexes = (
            parse_indexes(
                indexes, properties=schema.get("properties", {}), reserved=keys, owner=owner
            )
            if indexes or not isinstance(indexes, dict)
            else {}
        )
        cls._index_keys = frozenset(
            name for spec in cls._indexes.values() for name in (spec.partition_key, spec.sort_key)
        )
        cls._managed = managed
        cls._keys = (keys[0], keys[1])
        cls._reserved = frozenset(keys) | cls._index_keys
        cls._unreturned = cls._reserved | managed.hidden

    def __init__(self, data: dict[str, Any]) -> None:
        """Validate ``data`` against ``SCHEMA``; raise ValidationError (a ValueError) if not."""
        if not isinstance(data, dict):
            raise ValidationError("", f"entity data must be a dict, not {type(data).__name__}")
        try:
            validate = self._validators.full
        except AttributeError:  # Entity itself, not prepared yet
            Entity._prepare()
            validate = self._validators.full
        self.attributes: dict[str, Any] = validate(dict(data))

    # -- overridable hooks (dynamore 0.1's API) -----------------------------------------------

    @classmethod
    def pr_keys(cls) -> list[str]:
        """Names of the partition and sort key attributes: ``["PK", "SK"]``."""
        return ["PK", "SK"]

    @classmethod
    def partition_value(cls) -> str:
        """The partition key value of every item of this type: the schema's title. Both
        :meth:`make_identity` and listing (``get`` without an id) use it, so override this,
        not :meth:`make_identity`, to store a type under another partition."""
        return cls._title

    @classmethod
    def make_identity(cls, data: Optional[dict[str, Any]]) -> dict[str, Any]:
        """The key of the item ``data`` describes; ValidationError without the id attribute."""
        if not data or cls.ID_ATTRIBUTE not in data:
            raise ValidationError(cls.ID_ATTRIBUTE, "the id attribute is required")
        value = data[cls.ID_ATTRIBUTE]
        if isinstance(value, bool) or not isinstance(value, (str, int)) or value == "":
            raise ValidationError(
                cls.ID_ATTRIBUTE, "the id must be a non-empty string or an integer"
            )
        fmt = cls.SORT_KEY_FORMAT
        # A str id under the default format is its own sort key (no format call).
        sort = (
            value
            if fmt == "{id}" and type(value) is str
            else fmt.format(title=cls._title, id=value)
        )
        pk, sk = cls._keys
        shards = cls._shards
        if shards is None:
            return {pk: cls.partition_value(), sk: sort}
        return {pk: partition_for(cls.partition_value(), sort, shards), sk: sort}

    @classmethod
    def partitions(cls) -> tuple[str, ...]:
        """Every partition key value this type's items are stored under: one, or one per
        shard with ``PARTITION_SHARDS`` (listing and queries read them all)."""
        return partitions(cls.partition_value(), cls._shards)

    @classmethod
    def pre(
        cls, http_method: str, data: dict[str, Any], existing_item: Optional[dict[str, Any]] = None
    ) -> bool:
        """Called before a write; return False to stop it (PreconditionFailed, nothing
        written). What each verb passes is tabled in the README ("Hooks"); ``existing_item``
        is the stored item (with its key attributes) for PUT and PATCH: when this hook is
        overridden, those verbs and DELETE read the item first and write only if it is
        unchanged."""
        return True

    @classmethod
    def post(
        cls, http_method: str, data: dict[str, Any], existing_item: Optional[dict[str, Any]] = None
    ) -> Any:
        """Called after a successful write, with what was written (see the README's table)."""
        return True

    def add_dynamic_attributes(self, item: dict[str, Any]) -> None:
        """Add computed attributes to ``item`` (modify it in place) before it is written."""

    # -- accessors ----------------------------------------------------------------------------

    def identity(self) -> dict[str, Any]:
        """This entity's key attributes, checked against DynamoDB's key rules."""
        return self._checked_key(self.make_identity(self.attributes))

    def data(self) -> dict[str, Any]:
        """A copy of this entity's own attributes (no key attributes)."""
        return dict(self.attributes)

    def data_with_identity(self) -> dict[str, Any]:
        """The item as stored: the attributes, the key attributes, dynamic attributes and the
        key attributes of every index the item is in (computed last, from the item)."""
        item = dict(self.attributes)
        item.update(self.identity())
        self.add_dynamic_attributes(item)
        if self._indexes:
            for name in self._index_keys:
                item.pop(name, None)  # only the computed values, never a dynamic one
            item.update(index_attributes(self.partition_value(), self._indexes.values(), item))
        return item

    # -- helpers used by DynamoDbProxy ----------------------------------------------------------

    @classmethod
    def key_for(cls, data: Any) -> dict[str, Any]:
        """The key of the item ``data`` names by its id, for the verbs that take only an id
        (get, patch, delete): the id must satisfy its own rules in the schema (so ``7`` is
        not ``"7"`` when the id is a string), and the key DynamoDB's limits."""
        cls.check_keys_absent(data)
        id_attribute = cls.ID_ATTRIBUTE
        if id_attribute not in data:
            raise ValidationError(id_attribute, "the id attribute is required")
        if cls._id_types is not None:
            value = data[id_attribute]
            types, names = cls._id_types
            if not isinstance(value, types) or (type(value) is bool and bool not in types):
                raise ValidationError(
                    id_attribute, f"must be {names}, as the schema says, not {type(value).__name__}"
                )
        return cls._checked_key(cls.make_identity(data))

    @classmethod
    def _checked_key(cls, key: dict[str, Any]) -> dict[str, Any]:
        pk, sk = cls._keys
        pk_value, sk_value = key.get(pk), key.get(sk)
        # The common case in one test: short non-empty strings (4 UTF-8 bytes per character
        # at most), no encoding needed.
        if (
            type(pk_value) is str
            and type(sk_value) is str
            and 0 < len(pk_value) <= _PK_CHARS
            and 0 < len(sk_value) <= _SK_CHARS
        ):
            return key
        _check_key_value(pk, pk_value, MAX_PARTITION_KEY_BYTES, "partition key")
        _check_key_value(sk, sk_value, MAX_SORT_KEY_BYTES, f"sort key ({cls.ID_ATTRIBUTE})")
        return key

    @classmethod
    def check_keys_absent(cls, data: Any) -> None:
        """Reject data that tries to set a key attribute (the table's or an index's) itself."""
        if not isinstance(data, dict):
            raise ValidationError("", f"entity data must be a dict, not {type(data).__name__}")
        if cls._reserved.isdisjoint(data):
            return
        for key in cls._keys:
            if key in data:
                raise ValidationError(key, "is a key attribute set by dynamore, not by data")
        for key in cls._index_keys:
            if key in data:
                raise ValidationError(key, "is an index key attribute set by dynamore, not by data")

    @classmethod
    def strip_keys(cls, item: dict[str, Any]) -> dict[str, Any]:
        """``item`` without its key attributes, the table's and its indexes' (what the REST
        verbs return)."""
        unreturned = cls._unreturned
        return {k: v for k, v in item.items() if k not in unreturned}

    @classmethod
    def drop_keys(cls, item: dict[str, Any]) -> dict[str, Any]:
        """:meth:`strip_keys` done on ``item`` itself, for items no one else holds (those of
        a page just read): a few removals instead of a new dict."""
        for name in cls._unreturned:
            item.pop(name, None)
        return item

    @classmethod
    def index_key_names(cls) -> frozenset[str]:
        """The key attributes of the entity's indexes (``GSI1PK``, ``GSI1SK``, ...)."""
        return cls._index_keys

    @classmethod
    def index_specs(cls) -> dict[str, IndexSpec]:
        """The entity's ``INDEXES``, checked: one :class:`~dynamore._indexkeys.IndexSpec` each."""
        return cls._indexes

    @classmethod
    def managed(cls) -> Managed:
        """The attributes the store keeps for this class (version, timestamps, expiry)."""
        return cls._managed

    @classmethod
    def owns(cls, name: str) -> bool:
        """Whether attribute ``name`` is the entity's own: named in the schema's
        ``properties`` or matching its ``patternProperties``. Every other attribute of a
        stored item (a TTL another writer sets, index keys, dynamic attributes) survives
        ``put`` and ``patch``."""
        schema = cls.SCHEMA
        if name in schema.get("properties", ()):
            return True
        return any(re.search(p, name) for p in schema.get("patternProperties", ()))

    @classmethod
    def own_attributes(cls, data: dict[str, Any]) -> dict[str, Any]:
        """``data`` without attributes the schema cannot hold (those added by
        ``add_dynamic_attributes`` when the schema forbids additional properties)."""
        if cls.SCHEMA.get("additionalProperties", True) is not False:
            return data
        return {k: v for k, v in data.items() if cls.owns(k)}

    @classmethod
    def hook_overridden(cls, name: str) -> bool:
        """True when a subclass overrides hook ``name`` (``pre``, ``post``, ...)."""
        mine, base = getattr(cls, name), getattr(Entity, name)
        return getattr(mine, "__func__", mine) is not getattr(base, "__func__", base)
