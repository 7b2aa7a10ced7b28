"""moto in server mode, with the fixes a CDK deployment needs, bound to loopback.

Started by `deploylocal.emulator.Emulator` as `python -m deploylocal.motoserver -H 127.0.0.1 -p PORT`.
Each fix below corrects an emulator defect (not a difference between our template and AWS):
real CloudFormation accepts the same input. They only touch how moto's CloudFormation
creates a resource, never what the API later reports, so verification still reads what
moto really holds.
"""

from __future__ import annotations

import json
import sys
from typing import Any


def apply_fixes() -> list[str]:
    """Patch moto in this process; return a line per fix, for the run log."""
    from moto.kms.models import Key

    original = Key.create_from_cloudformation_json.__func__  # type: ignore[attr-defined]

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
    return [
        "AWS::KMS::Key: Tags passed to moto's KMS tagger as TagKey/TagValue",
        "AWS::KMS::Key: KeyPolicy serialized to JSON text before moto stores it",
    ]


def main(argv: list[str] | None = None) -> None:
    for line in apply_fixes():
        print(f"deploylocal: moto fix: {line}", file=sys.stderr, flush=True)
    from moto.server import main as moto_main

    moto_main(argv if argv is not None else sys.argv[1:])


if __name__ == "__main__":
    main()
