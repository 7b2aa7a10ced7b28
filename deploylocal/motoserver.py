"""moto in server mode, with the fixes a CDK deployment needs, bound to loopback.

Started by `deploylocal.emulator.Emulator` as `python -m deploylocal.motoserver -H 127.0.0.1 -p PORT`.
Each fix below corrects an emulator defect (not a difference between our template and AWS):
real CloudFormation accepts the same input. They only touch how moto's CloudFormation
creates a resource, never what the API later reports, so verification still reads what
moto really holds.
"""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Iterator
from typing import Any

FIXES = (
    "AWS::KMS::Key: Tags passed to moto's KMS tagger as TagKey/TagValue",
    "AWS::KMS::Key: KeyPolicy serialized to JSON text before moto stores it",
)


@contextlib.contextmanager
def moto_fixes() -> Iterator[tuple[str, ...]]:
    """Patch moto in this process while the block runs; yields a line per fix."""
    from moto.kms.models import Key

    saved = Key.__dict__["create_from_cloudformation_json"]
    original = saved.__func__

    def create_key(cls: Any, resource_name: str, cloudformation_json: Any, *args: Any, **kwargs: Any) -> Any:
        props = dict(cloudformation_json.get("Properties", {}))
        # AWS::KMS::Key Tags are [{Key, Value}] (like every CloudFormation tag list); moto's
        # KMS tagger indexes them as TagKey/TagValue and fails the whole stack with a KeyError.
        props["Tags"] = [{"TagKey": t["Key"], "TagValue": t["Value"]} for t in props.get("Tags", [])]
        # KeyPolicy is a JSON object in a template; moto stores it unserialized, and then
        # DescribeKey (and every policy check) fails with HTTP 500 on json.loads(dict).
        if isinstance(props.get("KeyPolicy"), dict):
            props["KeyPolicy"] = json.dumps(props["KeyPolicy"])
        return original(cls, resource_name, {**cloudformation_json, "Properties": props}, *args, **kwargs)

    Key.create_from_cloudformation_json = classmethod(create_key)  # type: ignore[method-assign,assignment]
    try:
        yield FIXES
    finally:
        Key.create_from_cloudformation_json = saved  # type: ignore[method-assign]


def main(argv: list[str] | None = None) -> None:
    from moto.server import main as moto_main

    with moto_fixes() as fixes:
        for line in fixes:
            print(f"deploylocal: moto fix: {line}", file=sys.stderr, flush=True)
        moto_main(argv if argv is not None else sys.argv[1:])


if __name__ == "__main__":
    main()
