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

Storage layout: ``PK`` = the schema's title, ``SK`` = the id value (``PERSON`` / ``123456``).
Tables written by dynamore 0.1.x, which stored ``SK = "#PERSON#123456"``, are read and written
by setting ``SORT_KEY_FORMAT = LEGACY_SORT_KEY_FORMAT`` on the entity class.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar, NamedTuple, Optional

from dynamore._schema import (
    Validator,
    compile_validator,
    has_cross_attribute_rules,
    patch_schema,
    warn_unknown_keywords,
)
from dynamore.exceptions import SchemaError, ValidationError

__all__ = ["LEGACY_SORT_KEY_FORMAT", "SORT_KEY_FORMAT", "Entity"]

SORT_KEY_FORMAT = "{id}"
LEGACY_SORT_KEY_FORMAT = "#{title}#{id}"


class _Validators(NamedTuple):
    full: Validator
    patch: Optional[Validator]  # None: the schema ties attributes together


class Entity:
    """Base class of stored entity types; see the module docstring.

    Overridable class methods (as in dynamore 0.1): :meth:`pr_keys`, :meth:`make_identity`,
    :meth:`pre`, :meth:`post`; instance hook :meth:`add_dynamic_attributes`.
    ``Entity(data)`` validates ``data`` and raises ValidationError (a ValueError) if it is not
    valid.
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

    # Built once per class by __init_subclass__.
    _validators: ClassVar[_Validators]
    _title: ClassVar[str]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
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
        warn_unknown_keywords(schema, owner)
        cls._title = title
        # A partial update can be validated on its own only when no rule ties attributes
        # together; otherwise patch validates the merged item (see dynamodb_proxy).
        cls._validators = _Validators(
            compile_validator(schema, owner),
            None
            if has_cross_attribute_rules(schema)
            else compile_validator(patch_schema(schema), owner),
        )

    def __init__(self, data: dict[str, Any]) -> None:
        """Validate ``data`` against ``SCHEMA``; raise ValidationError (a ValueError) if not."""
        self.check_keys_absent(data)
        self.attributes: dict[str, Any] = self._validators.full(dict(data))
        if self.ID_ATTRIBUTE not in self.attributes:
            raise ValidationError(self.ID_ATTRIBUTE, "the id attribute is required")

    # -- overridable hooks (dynamore 0.1's API) -----------------------------------------------

    @classmethod
    def pr_keys(cls) -> list[str]:
        """Names of the partition and sort key attributes: ``["PK", "SK"]``."""
        return ["PK", "SK"]

    @classmethod
    def make_identity(cls, data: Optional[dict[str, Any]]) -> dict[str, str]:
        """The key of the item ``data`` describes; ValidationError without the id attribute."""
        if not data or cls.ID_ATTRIBUTE not in data:
            raise ValidationError(cls.ID_ATTRIBUTE, "the id attribute is required")
        value = data[cls.ID_ATTRIBUTE]
        if isinstance(value, bool) or not isinstance(value, (str, int)) or value == "":
            raise ValidationError(
                cls.ID_ATTRIBUTE, "the id must be a non-empty string or an integer"
            )
        pk, sk = cls.pr_keys()
        return {pk: cls._title, sk: cls.SORT_KEY_FORMAT.format(title=cls._title, id=value)}

    @classmethod
    def pre(
        cls, http_method: str, data: dict[str, Any], existing_item: Optional[dict[str, Any]] = None
    ) -> bool:
        """Called before a write; return False to stop it (PreconditionFailed, nothing
        written). ``existing_item`` is the stored item for PUT, PATCH and DELETE; when this
        hook is overridden, those verbs read it first and write only if it is unchanged."""
        return True

    @classmethod
    def post(
        cls, http_method: str, data: dict[str, Any], existing_item: Optional[dict[str, Any]] = None
    ) -> Any:
        """Called after a successful write, with what was written."""
        return True

    def add_dynamic_attributes(self, item: dict[str, Any]) -> None:
        """Add computed attributes to ``item`` (modify it in place) before it is written."""

    # -- accessors ----------------------------------------------------------------------------

    def identity(self) -> dict[str, str]:
        """This entity's key attributes."""
        return self.make_identity(self.attributes)

    def data(self) -> dict[str, Any]:
        """A copy of this entity's own attributes (no key attributes)."""
        return dict(self.attributes)

    def data_with_identity(self) -> dict[str, Any]:
        """The item as stored: the attributes, the key attributes and dynamic attributes."""
        item = dict(self.attributes)
        item.update(self.identity())
        self.add_dynamic_attributes(item)
        return item

    # -- helpers used by DynamoDbProxy ----------------------------------------------------------

    @classmethod
    def check_keys_absent(cls, data: Any) -> None:
        """Reject data that tries to set a key attribute itself."""
        if not isinstance(data, dict):
            raise ValidationError("", f"entity data must be a dict, not {type(data).__name__}")
        for key in cls.pr_keys():
            if key in data:
                raise ValidationError(key, "is a key attribute set by dynamore, not by data")

    @classmethod
    def strip_keys(cls, item: dict[str, Any]) -> dict[str, Any]:
        """``item`` without its key attributes (what the REST verbs return)."""
        pk, sk = cls.pr_keys()
        return {k: v for k, v in item.items() if k != pk and k != sk}

    @classmethod
    def own_attributes(cls, data: dict[str, Any]) -> dict[str, Any]:
        """``data`` without attributes the schema cannot hold (those added by
        ``add_dynamic_attributes`` when the schema forbids additional properties)."""
        if cls.SCHEMA.get("additionalProperties", True) is not False:
            return data
        named = cls.SCHEMA.get("properties", {})
        patterns = [re.compile(p) for p in cls.SCHEMA.get("patternProperties", {})]
        return {k: v for k, v in data.items() if k in named or any(p.search(k) for p in patterns)}

    @classmethod
    def hook_overridden(cls, name: str) -> bool:
        """True when a subclass overrides hook ``name`` (``pre``, ``post``, ...)."""
        mine, base = getattr(cls, name), getattr(Entity, name)
        return getattr(mine, "__func__", mine) is not getattr(base, "__func__", base)
