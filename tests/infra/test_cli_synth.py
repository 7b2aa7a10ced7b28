"""`npx cdk synth`, `python app.py` and the tests' App synthesize the same template."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


def test_cli_synth_equals_the_tests_template(tmp_path: Path, template: dict[str, Any]) -> None:
    cdk = ROOT / "node_modules" / ".bin" / "cdk"
    assert cdk.exists(), "the CDK CLI is missing: run `npm ci` (make setup does)"
    env = {**os.environ, "CDK_DISABLE_CLI_TELEMETRY": "true", "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20"}
    subprocess.run(
        [str(cdk), "synth", "--quiet", "--output", str(tmp_path)], cwd=ROOT, env=env, check=True, capture_output=True
    )
    cli = json.loads((tmp_path / "AutoRemediation.template.json").read_text())
    assert _without_cli_metadata(cli) == _without_cli_metadata(template)
    assert cli["Resources"].keys() - {"CDKMetadata"} == template["Resources"].keys()


def _without_cli_metadata(template: dict[str, Any]) -> dict[str, Any]:
    """The CLI adds construct-path and version-reporting metadata; nothing else may differ."""
    out = json.loads(json.dumps(template))
    out["Resources"].pop("CDKMetadata", None)
    out.pop("Conditions", None) if set(out.get("Conditions", {})) == {"CDKMetadataAvailable"} else None
    for resource in out["Resources"].values():
        resource.pop("Metadata", None)
    return dict(out)
