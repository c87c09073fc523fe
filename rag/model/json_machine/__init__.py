"""A byte automaton for one JSON value that conforms to a JSON-Schema subset (tool calls, structured output).

:class:`JsonMachine` is a :class:`~rag.model.constraints.ByteMachine`: a
pushdown automaton whose state is an immutable tuple of small tuples (one frame
per open value, innermost last), so :class:`~rag.model.constraints.TokenConstraint`
can memoise masks per state. Every output it accepts parses with ``json.loads``
and conforms to the schema; where the schema allows several spellings it may
allow fewer, to keep the model on a short, predictable path:

* Whitespace: none, except at most one space after ``:`` and after ``,``. A
  small model otherwise loops on spaces and newlines, and a token of pure
  whitespace is never needed.
* Objects with ``properties`` take only the declared keys, in declared order,
  each at most once; optional ones may be skipped and ``required`` ones may
  not. Without ``properties`` any string keys are allowed, with values
  conforming to ``additionalProperties`` (absent or true: any value).
* Strings: raw UTF-8 (valid sequences only) and the JSON escapes; a
  ``\\uXXXX`` surrogate must be a high one followed by a low one, so a string
  never holds half a character. ``minLength``/``maxLength`` count characters
  (an escape or a surrogate pair is one); at ``maxLength`` only the closing
  quote is allowed, which forces the value to end.
* ``integer`` is written without fraction or exponent. ``enum``/``const``
  values are written compactly (``json.dumps`` with no spaces, keys in the
  given order) and kept only if the rest of the schema accepts them.
* ``anyOf`` and lists of types work when the branches differ in their first
  byte (string vs number vs object ...); branches that are all literals or
  all numbers are merged; other overlaps raise :class:`ConfigError`.

Keywords that would change validity and are not implemented (``pattern``,
``format``, ``minimum``, ``oneOf``, ``$ref``, ``uniqueItems``, ...) raise
:class:`ConfigError` naming the keyword; descriptive ones (``title``,
``description``, ``default``, ``examples``) are ignored.
"""

from rag.model.json_machine.machine import JsonMachine

__all__ = ["JsonMachine"]
