"""The typed schema of every option file: training files, the degradation space, balancing, task pipeline files.

One set of types and one error format (:mod:`restoration.schema.base`) for every section, so a key is checked the
same way wherever it appears and every mistake is one line naming the dotted key. Built on pydantic v2 (already a
dependency through gradio) for its strict scalar types and its JSON-schema export (``restoration options schema``).
Importing this package imports nothing; its modules import pydantic, so ``import restoration`` stays light.
"""
