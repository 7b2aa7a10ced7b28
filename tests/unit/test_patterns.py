"""Tests for gameday.patterns, the EventBridge event-pattern matcher.

Most cases are the example events and patterns from the Amazon EventBridge
user guide (event patterns, null values and empty strings, arrays, content
filtering / comparison operators) and from the aws/event-ruler README, which
documents the matcher EventBridge runs.  The rest cover behaviour our rules
depend on: arrays of objects, $or, missing keys and pattern validation.
"""

from __future__ import annotations

import copy
import re
from typing import Any

import pytest

from gameday.patterns import PatternError, matches, validate_pattern

# ---------------------------------------------------------------------------
# Example events from the documentation
# ---------------------------------------------------------------------------

EC2_STATE_CHANGE: dict[str, Any] = {
    "version": "0",
    "id": "6a7e8feb-b491-4cf7-a9f1-bf3703467718",
    "detail-type": "EC2 Instance State-change Notification",
    "source": "aws.ec2",
    "account": "111122223333",
    "time": "2017-12-22T18:43:48Z",
    "region": "us-west-1",
    "resources": ["arn:aws:ec2:us-west-1:123456789012:instance/i-1234567890abcdef0"],
    "detail": {"instance-id": "i-1234567890abcdef0", "state": "terminated"},
}

AUTOSCALING_LAUNCH: dict[str, Any] = {
    "version": "0",
    "id": "3e3c153a-8339-4e30-8c35-687ebef853fe",
    "detail-type": "EC2 Instance Launch Successful",
    "source": "aws.autoscaling",
    "account": "123456789012",
    "time": "2015-11-11T21:31:47Z",
    "region": "us-east-1",
    "resources": [],
    "detail": {"eventVersion": "", "responseElements": None},
}

MACIE_ALERT: dict[str, Any] = {
    "version": "0",
    "id": "3e355723-fca9-4de3-9fd7-154c289d6b59",
    "detail-type": "Macie Alert",
    "source": "aws.macie",
    "account": "123456789012",
    "time": "2017-04-24T22:28:49Z",
    "region": "us-east-1",
    "resources": [
        "arn:aws:macie:us-east-1:123456789012:trigger/trigger_id/alert/alert_id",
        "arn:aws:macie:us-east-1:123456789012:trigger/trigger_id",
    ],
    "detail": {
        "notification-type": "ALERT_CREATED",
        "name": "Scanning bucket policies",
        "tags": ["Custom_Alert", "Insider"],
        "risk-score": 80,
        "trigger": {
            "rule-arn": "arn:aws:macie:us-east-1:123456789012:trigger/trigger_id",
            "alert-type": "basic",
            "risk": 8,
        },
    },
}

# The sample event used throughout the content-filtering docs / event-ruler README.
RULER_SAMPLE: dict[str, Any] = {
    "version": "0",
    "id": "ddddd4-aaaa-7777-4444-345dd43cc333",
    "detail-type": "EC2 Instance State-change Notification",
    "source": "aws.ec2",
    "account": "012345679012",
    "time": "2017-10-02T16:24:49Z",
    "region": "us-east-1",
    "resources": ["arn:aws:ec2:us-east-1:123456789012:instance/i-000000aaaaaa00000"],
    "detail": {
        "c-count": 5,
        "d-count": 3,
        "x-limit": 301.8,
        "source-ip": "10.0.0.33",
        "instance-id": "i-000000aaaaaa00000",
        "state": "running",
    },
}


def _with_detail(event: dict[str, Any], **detail: Any) -> dict[str, Any]:
    """Copy ``event`` with some detail fields replaced."""
    result = copy.deepcopy(event)
    result["detail"].update(detail)
    return result


# ---------------------------------------------------------------------------
# Basic structure: AND across fields, OR within a value array
# ---------------------------------------------------------------------------


def test_doc_ec2_termination_pattern() -> None:
    pattern = {
        "source": ["aws.ec2"],
        "detail-type": ["EC2 Instance State-change Notification"],
        "detail": {"state": ["terminated"]},
    }
    assert matches(pattern, EC2_STATE_CHANGE)
    assert not matches(pattern, _with_detail(EC2_STATE_CHANGE, state="running"))


def test_doc_match_values_any_of_array() -> None:
    pattern = {"source": ["aws.ec2", "aws.fargate"]}
    assert matches(pattern, EC2_STATE_CHANGE)
    assert matches(pattern, {**EC2_STATE_CHANGE, "source": "aws.fargate"})
    assert not matches(pattern, {**EC2_STATE_CHANGE, "source": "aws.ecs"})


def test_fields_at_same_level_are_anded() -> None:
    pattern = {"source": ["aws.ec2"], "region": ["eu-west-1"]}
    assert not matches(pattern, EC2_STATE_CHANGE)


def test_strings_are_case_sensitive_and_exact() -> None:
    assert not matches({"source": ["AWS.EC2"]}, EC2_STATE_CHANGE)
    assert not matches({"source": ["aws.ec"]}, EC2_STATE_CHANGE)


def test_doc_macie_nested_numeric_values() -> None:
    pattern = {
        "source": ["aws.macie"],
        "detail-type": ["Macie Alert"],
        "detail": {"risk-score": [80], "trigger": {"risk": [8]}},
    }
    assert matches(pattern, MACIE_ALERT)
    lower_risk = copy.deepcopy(MACIE_ALERT)
    lower_risk["detail"]["trigger"]["risk"] = 7
    assert not matches(pattern, lower_risk)


def test_numbers_compare_numerically() -> None:
    assert matches({"detail": {"risk-score": [80.0]}}, MACIE_ALERT)
    assert matches({"detail": {"x-limit": [3.018e2]}}, RULER_SAMPLE)
    assert matches({"n": [5]}, {"n": 5.0})
    # A string never equals a number and vice versa.
    assert not matches({"detail": {"risk-score": ["80"]}}, MACIE_ALERT)
    assert not matches({"n": [5]}, {"n": "5"})


def test_booleans_are_typed() -> None:
    assert matches({"enabled": [True]}, {"enabled": True})
    assert not matches({"enabled": [True]}, {"enabled": "true"})
    assert not matches({"enabled": ["true"]}, {"enabled": True})
    # Python's True == 1 must not leak into matching.
    assert not matches({"enabled": [True]}, {"enabled": 1})
    assert not matches({"n": [1]}, {"n": True})


def test_pattern_ignores_extra_event_fields() -> None:
    assert matches({"detail": {"state": ["running"]}}, RULER_SAMPLE)


# ---------------------------------------------------------------------------
# Null values and empty strings
# ---------------------------------------------------------------------------


def test_doc_null_value() -> None:
    pattern = {
        "source": ["aws.autoscaling"],
        "detail-type": ["EC2 Instance Launch Successful"],
        "detail": {"responseElements": [None]},
    }
    assert matches(pattern, AUTOSCALING_LAUNCH)


def test_doc_empty_string() -> None:
    assert matches({"detail": {"eventVersion": [""]}}, AUTOSCALING_LAUNCH)


def test_doc_null_and_empty_string_are_not_interchangeable() -> None:
    assert not matches({"detail": {"responseElements": [""]}}, AUTOSCALING_LAUNCH)
    assert not matches({"detail": {"eventVersion": [None]}}, AUTOSCALING_LAUNCH)


def test_null_does_not_match_missing_field() -> None:
    assert not matches({"detail": {"nope": [None]}}, AUTOSCALING_LAUNCH)


# ---------------------------------------------------------------------------
# Arrays
# ---------------------------------------------------------------------------


def test_doc_arrays_intersection() -> None:
    pattern = {
        "resources": [
            "arn:aws:ec2:us-east-1:123456789012:instance/i-b188560f",
            "arn:aws:ec2:us-east-1:111122223333:instance/i-b188560f",
            "arn:aws:ec2:us-east-1:444455556666:instance/i-b188560f",
        ]
    }
    event = {
        "resources": [
            "arn:aws:autoscaling:us-east-1:123456789012:autoScalingGroup:eb56d16b-bbf0-401d-b893-d5978ed4a025:autoScalingGroupName/ASGTerminate",
            "arn:aws:ec2:us-east-1:123456789012:instance/i-b188560f",
        ]
    }
    assert matches(pattern, event)
    assert not matches(pattern, {"resources": [event["resources"][0]]})


def test_empty_event_array_matches_nothing() -> None:
    assert not matches({"resources": ["x"]}, AUTOSCALING_LAUNCH)


def test_doc_macie_tags_array() -> None:
    assert matches({"detail": {"tags": ["Insider"]}}, MACIE_ALERT)
    assert not matches({"detail": {"tags": ["Outsider"]}}, MACIE_ALERT)


EMPLOYEES: dict[str, Any] = {
    "employees": [
        {"firstName": "John", "lastName": "Doe"},
        {"firstName": "Anna", "lastName": "Smith"},
        {"firstName": "Peter", "lastName": "Jones"},
    ]
}


def test_ruler_array_of_objects() -> None:
    assert matches({"employees": {"firstName": ["Anna"]}}, EMPLOYEES)
    assert not matches({"employees": {"firstName": ["Zoe"]}}, EMPLOYEES)


def test_ruler_array_consistency() -> None:
    """Fields from different elements of one array must not be combined."""
    assert matches({"employees": {"firstName": ["Anna"], "lastName": ["Smith"]}}, EMPLOYEES)
    assert not matches({"employees": {"firstName": ["Anna"], "lastName": ["Jones"]}}, EMPLOYEES)


def test_ruler_multi_level_arrays() -> None:
    event = {
        "employees": [
            [
                {"firstName": "John", "lastName": "Doe"},
                {"firstName": "Anna", "lastName": "Smith"},
            ],
            [{"firstName": "Peter", "lastName": "Jones"}],
        ]
    }
    assert matches({"employees": {"firstName": ["Peter"]}}, event)
    assert matches({"employees": {"firstName": ["Anna"], "lastName": ["Smith"]}}, event)
    assert not matches({"employees": {"firstName": ["Anna"], "lastName": ["Jones"]}}, event)


GUARDDUTY_EC2_FINDING: dict[str, Any] = {
    "source": "aws.guardduty",
    "detail-type": "GuardDuty Finding",
    "detail": {
        "type": "Recon:EC2/PortProbeUnprotectedPort",
        "severity": 5,
        "resource": {
            "resourceType": "Instance",
            "instanceDetails": {
                "instanceId": "i-99999999",
                "networkInterfaces": [
                    {
                        "vpcId": "vpc-0",
                        "subnetId": "subnet-a",
                        "securityGroups": [{"groupId": "sg-1"}, {"groupId": "sg-2"}],
                    },
                    {
                        "vpcId": "vpc-1",
                        "subnetId": "subnet-b",
                        "securityGroups": [{"groupId": "sg-3"}],
                    },
                ],
            },
        },
    },
}


def test_nested_array_of_objects_match() -> None:
    pattern = {"detail": {"resource": {"instanceDetails": {"networkInterfaces": {"vpcId": ["vpc-1"]}}}}}
    assert matches(pattern, GUARDDUTY_EC2_FINDING)
    miss = {"detail": {"resource": {"instanceDetails": {"networkInterfaces": {"vpcId": ["vpc-9"]}}}}}
    assert not matches(miss, GUARDDUTY_EC2_FINDING)


def test_nested_array_of_objects_is_consistent_per_element() -> None:
    def eni(**fields: list[Any]) -> dict[str, Any]:
        return {"detail": {"resource": {"instanceDetails": {"networkInterfaces": fields}}}}

    assert matches(eni(vpcId=["vpc-1"], subnetId=["subnet-b"]), GUARDDUTY_EC2_FINDING)
    assert not matches(eni(vpcId=["vpc-1"], subnetId=["subnet-a"]), GUARDDUTY_EC2_FINDING)


def test_arrays_inside_arrays_of_objects() -> None:
    def groups(vpc: str, group: str) -> dict[str, Any]:
        return {
            "detail": {
                "resource": {
                    "instanceDetails": {
                        "networkInterfaces": {
                            "vpcId": [vpc],
                            "securityGroups": {"groupId": [group]},
                        }
                    }
                }
            }
        }

    assert matches(groups("vpc-0", "sg-2"), GUARDDUTY_EC2_FINDING)
    assert matches(groups("vpc-1", "sg-3"), GUARDDUTY_EC2_FINDING)
    assert not matches(groups("vpc-1", "sg-1"), GUARDDUTY_EC2_FINDING)


def test_operators_apply_to_array_elements() -> None:
    assert matches({"detail": {"tags": [{"prefix": "Ins"}]}}, MACIE_ALERT)
    assert matches({"scores": [{"numeric": [">", 9]}]}, {"scores": [1, 5, 10]})
    assert not matches({"scores": [{"numeric": [">", 10]}]}, {"scores": [1, 5, 10]})


def test_scalar_array_does_not_match_object_subpattern() -> None:
    assert not matches({"tags": {"name": ["x"]}}, {"tags": ["x"]})


# ---------------------------------------------------------------------------
# Prefix / suffix / equals-ignore-case / wildcard
# ---------------------------------------------------------------------------


def test_doc_prefix_matching() -> None:
    pattern = {"time": [{"prefix": "2017-10-02"}]}
    assert matches(pattern, {"time": "2017-10-02T18:43:48Z"})
    assert not matches(pattern, {"time": "2017-10-03T18:43:48Z"})


def test_doc_prefix_region() -> None:
    pattern = {"region": [{"prefix": "us-"}]}
    assert matches(pattern, {"region": "us-east-1"})
    assert not matches(pattern, {"region": "eu-west-1"})


def test_prefix_only_applies_to_strings() -> None:
    assert not matches({"n": [{"prefix": "1"}]}, {"n": 123})
    assert not matches({"n": [{"prefix": "n"}]}, {"n": None})


def test_doc_prefix_equals_ignore_case() -> None:
    pattern = {"service": [{"prefix": {"equals-ignore-case": "eventb"}}]}
    assert matches(pattern, {"service": "EventBridge"})
    assert matches(pattern, {"service": "eventbus"})
    assert not matches(pattern, {"service": "Lambda"})


def test_doc_suffix_matching() -> None:
    pattern = {"FileName": [{"suffix": ".png"}]}
    assert matches(pattern, {"FileName": "photo.png"})
    assert not matches(pattern, {"FileName": "photo.PNG"})
    assert not matches(pattern, {"FileName": "photo.jpg"})


def test_doc_suffix_equals_ignore_case() -> None:
    pattern = {"service": [{"suffix": {"equals-ignore-case": "tbridge"}}]}
    assert matches(pattern, {"service": "EventBridge"})
    assert matches(pattern, {"service": "EVENTBRIDGE"})
    assert not matches(pattern, {"service": "EventBus"})


def test_ruler_suffix_source() -> None:
    assert matches({"source": [{"suffix": "ec2"}]}, RULER_SAMPLE)


def test_doc_equals_ignore_case() -> None:
    pattern = {"Name": [{"equals-ignore-case": "alice"}]}
    assert matches(pattern, {"Name": "Alice"})
    assert matches(pattern, {"Name": "ALICE"})
    assert not matches(pattern, {"Name": "Alicia"})
    assert not matches({"source": [{"equals-ignore-case": "EC2"}]}, RULER_SAMPLE)
    assert matches({"source": [{"equals-ignore-case": "AWS.EC2"}]}, RULER_SAMPLE)


def test_doc_wildcard() -> None:
    pattern = {"EventBusArn": [{"wildcard": "arn:aws:events:us-east-1:*:event-bus/*"}]}
    assert matches(pattern, {"EventBusArn": "arn:aws:events:us-east-1:123456789012:event-bus/prod"})
    assert not matches(pattern, {"EventBusArn": "arn:aws:events:us-west-2:123456789012:event-bus/prod"})
    assert matches({"source": [{"wildcard": "Simple*Service"}]}, {"source": "SimpleQueueService"})


def test_wildcard_star_matches_empty_and_is_anchored() -> None:
    pattern = {"f": [{"wildcard": "dir/*.png"}]}
    assert matches(pattern, {"f": "dir/.png"})
    assert matches(pattern, {"f": "dir/a/b.png"})
    assert not matches(pattern, {"f": "xdir/a.png"})
    assert not matches(pattern, {"f": "dir/a.png.bak"})


def test_wildcard_escaped_star_is_literal() -> None:
    pattern = {"f": [{"wildcard": "a\\*b"}]}
    assert matches(pattern, {"f": "a*b"})
    assert not matches(pattern, {"f": "axxb"})
    assert matches({"f": [{"wildcard": "a\\\\*"}]}, {"f": "a\\anything"})


def test_wildcard_regex_metacharacters_are_literal() -> None:
    assert matches({"f": [{"wildcard": "a.b(c)*"}]}, {"f": "a.b(c)d"})
    assert not matches({"f": [{"wildcard": "a.b*"}]}, {"f": "axb"})


# ---------------------------------------------------------------------------
# anything-but
# ---------------------------------------------------------------------------


def test_doc_anything_but_string() -> None:
    pattern = {"detail": {"state": [{"anything-but": "initializing"}]}}
    assert matches(pattern, RULER_SAMPLE)
    assert not matches(pattern, _with_detail(RULER_SAMPLE, state="initializing"))


def test_doc_anything_but_number() -> None:
    pattern = {"detail": {"x-limit": [{"anything-but": 123}]}}
    assert matches(pattern, RULER_SAMPLE)
    assert not matches(pattern, _with_detail(RULER_SAMPLE, **{"x-limit": 123.0}))


def test_doc_anything_but_string_list() -> None:
    pattern = {"detail": {"state": [{"anything-but": ["stopped", "overloaded"]}]}}
    assert matches(pattern, RULER_SAMPLE)
    assert not matches(pattern, _with_detail(RULER_SAMPLE, state="stopped"))
    assert not matches(pattern, _with_detail(RULER_SAMPLE, state="overloaded"))


def test_doc_anything_but_number_list() -> None:
    pattern = {"detail": {"x-limit": [{"anything-but": [100, 200, 300]}]}}
    assert matches(pattern, RULER_SAMPLE)
    assert not matches(pattern, _with_detail(RULER_SAMPLE, **{"x-limit": 200}))


def test_doc_anything_but_prefix() -> None:
    pattern = {"detail": {"state": [{"anything-but": {"prefix": "init"}}]}}
    assert matches(pattern, RULER_SAMPLE)
    assert not matches(pattern, _with_detail(RULER_SAMPLE, state="initializing"))
    region = {"Region": [{"anything-but": {"prefix": "us-"}}]}
    assert matches(region, {"Region": "eu-west-1"})
    assert not matches(region, {"Region": "us-east-1"})


def test_doc_anything_but_suffix() -> None:
    pattern = {"FileName": [{"anything-but": {"suffix": ".png"}}]}
    assert matches(pattern, {"FileName": "a.jpg"})
    assert not matches(pattern, {"FileName": "a.png"})


def test_doc_anything_but_equals_ignore_case() -> None:
    pattern = {"state": [{"anything-but": {"equals-ignore-case": "initializing"}}]}
    assert matches(pattern, {"state": "running"})
    assert not matches(pattern, {"state": "INITIALIZING"})
    listed = {"state": [{"anything-but": {"equals-ignore-case": ["a", "B"]}}]}
    assert not matches(listed, {"state": "b"})
    assert matches(listed, {"state": "c"})


def test_doc_anything_but_wildcard() -> None:
    pattern = {"FilePath": [{"anything-but": {"wildcard": "*/lib/*"}}]}
    assert matches(pattern, {"FilePath": "/usr/bin/env"})
    assert not matches(pattern, {"FilePath": "/usr/lib/libc.so"})


def test_anything_but_does_not_match_missing_field() -> None:
    assert not matches({"detail": {"nope": [{"anything-but": "x"}]}}, RULER_SAMPLE)
    assert not matches({"detail": {"nope": [{"anything-but": {"prefix": "x"}}]}}, RULER_SAMPLE)


def test_anything_but_matches_null_and_other_types() -> None:
    assert matches({"command": [{"anything-but": ["no-message"]}]}, {"command": None})
    assert matches({"n": [{"anything-but": ["5"]}]}, {"n": 5})
    assert matches({"n": [{"anything-but": [5]}]}, {"n": "5"})
    assert matches({"n": [{"anything-but": {"prefix": "5"}}]}, {"n": 5})


def test_anything_but_on_event_array_is_per_element() -> None:
    pattern = {"states": [{"anything-but": "stopped"}]}
    assert matches(pattern, {"states": ["stopped", "running"]})
    assert not matches(pattern, {"states": ["stopped"]})


# ---------------------------------------------------------------------------
# numeric
# ---------------------------------------------------------------------------


def test_doc_numeric_matching() -> None:
    pattern = {
        "detail": {
            "c-count": [{"numeric": [">", 0, "<=", 5]}],
            "d-count": [{"numeric": ["<", 10]}],
            "x-limit": [{"numeric": ["=", 3.018e2]}],
        }
    }
    assert matches(pattern, RULER_SAMPLE)
    assert not matches(pattern, _with_detail(RULER_SAMPLE, **{"c-count": 6}))
    assert not matches(pattern, _with_detail(RULER_SAMPLE, **{"c-count": 0}))
    assert not matches(pattern, _with_detail(RULER_SAMPLE, **{"d-count": 10}))
    assert not matches(pattern, _with_detail(RULER_SAMPLE, **{"x-limit": 301.9}))


@pytest.mark.parametrize(
    ("spec", "value", "expected"),
    [
        ([">", 5], 5, False),
        ([">", 5], 5.000001, True),
        ([">=", 5], 5, True),
        (["<", 5], 5, False),
        (["<=", 5], 5, True),
        (["=", 5], 5.0, True),
        ([">=", -1.5, "<", 2], -1.5, True),
        ([">=", -1.5, "<", 2], 2, False),
    ],
)
def test_numeric_operators(spec: list[Any], value: float, expected: bool) -> None:
    assert matches({"n": [{"numeric": spec}]}, {"n": value}) is expected


def test_numeric_only_matches_json_numbers() -> None:
    assert not matches({"n": [{"numeric": [">", 0]}]}, {"n": "5"})
    assert not matches({"n": [{"numeric": [">", 0]}]}, {"n": True})
    assert not matches({"n": [{"numeric": [">", 0]}]}, {"n": None})


# ---------------------------------------------------------------------------
# cidr
# ---------------------------------------------------------------------------


def test_doc_cidr_ipv4() -> None:
    pattern = {"detail": {"sourceIPAddress": [{"cidr": "10.0.0.0/24"}]}}
    assert matches(pattern, {"detail": {"sourceIPAddress": "10.0.0.255"}})
    assert not matches(pattern, {"detail": {"sourceIPAddress": "10.0.1.1"}})
    assert matches({"detail": {"source-ip": [{"cidr": "10.0.0.0/8"}]}}, RULER_SAMPLE)


def test_cidr_ipv6() -> None:
    pattern = {"ip": [{"cidr": "2001:db8::/32"}]}
    assert matches(pattern, {"ip": "2001:db8::1"})
    assert not matches(pattern, {"ip": "2001:db9::1"})
    assert not matches(pattern, {"ip": "10.0.0.1"})


def test_cidr_ignores_non_ip_values() -> None:
    pattern = {"ip": [{"cidr": "10.0.0.0/24"}]}
    assert not matches(pattern, {"ip": "AWS Internal"})
    assert not matches(pattern, {"ip": 167772161})


# ---------------------------------------------------------------------------
# exists
# ---------------------------------------------------------------------------


def test_doc_exists_true() -> None:
    pattern = {"detail": {"c-count": [{"exists": True}]}}
    assert matches(pattern, RULER_SAMPLE)
    assert not matches(pattern, EC2_STATE_CHANGE)


def test_doc_exists_false() -> None:
    pattern = {"detail": {"c-count": [{"exists": False}]}}
    assert not matches(pattern, RULER_SAMPLE)
    doc_event = {
        "detail-type": ["EC2 Instance State-change Notification"],
        "resources": ["arn:aws:ec2:us-east-1:123456789012:instance/i-02ebd4584a2ebd341"],
        "detail": {"state": ["initializing", "running"]},
    }
    assert matches(pattern, doc_event)


def test_doc_exists_applies_to_leaf_nodes_only() -> None:
    """An object-valued field is not a leaf, so it does not 'exist'."""
    event = {"detail": {"state": ["initializing", "running"], "c-count": {"c1": 100}}}
    assert matches({"detail": {"c-count": [{"exists": False}]}}, event)
    assert not matches({"detail": {"c-count": [{"exists": True}]}}, event)


def test_exists_true_matches_null_value() -> None:
    assert matches({"detail": {"responseElements": [{"exists": True}]}}, AUTOSCALING_LAUNCH)


def test_exists_false_with_missing_intermediate_keys() -> None:
    pattern = {"detail": {"a": {"b": {"c": [{"exists": False}]}}}}
    assert matches(pattern, RULER_SAMPLE)
    assert matches(pattern, {"source": "x"})
    assert not matches(pattern, {"detail": {"a": {"b": {"c": 1}}}})


def test_exists_false_and_empty_array() -> None:
    assert matches({"resources": [{"exists": False}]}, AUTOSCALING_LAUNCH)
    assert not matches({"resources": [{"exists": True}]}, AUTOSCALING_LAUNCH)


def test_exists_false_in_array_of_objects() -> None:
    """exists:false looks for the path anywhere in the (array-consistent) event.

    Like event-ruler, leaves are checked in sorted path order, and an absence
    check only ignores array elements already ruled out by leaves matched
    before it.
    """
    event = {"items": [{"a": 1, "c": 2}, {"b": 3}]}
    # The field exists in one element, so the event has the field.
    assert not matches({"items": {"b": [{"exists": False}]}}, event)
    assert matches({"items": {"z": [{"exists": False}]}}, event)
    # items.a (sorted first) pins element 0, where b is absent.
    assert matches({"items": {"a": [1], "b": [{"exists": False}]}}, event)
    assert not matches({"items": {"a": [9], "b": [{"exists": False}]}}, event)
    # items.b is checked before items.c pins an element: b exists in element 1.
    assert not matches({"items": {"b": [{"exists": False}], "c": [2]}}, event)


def test_exists_false_or_numeric_ecr_scan_pattern() -> None:
    pattern = {
        "source": ["aws.ecr"],
        "detail-type": ["ECR Image Scan"],
        "detail": {
            "finding-severity-counts": {
                "CRITICAL": [{"exists": False}, {"numeric": [">", 0]}],
                "HIGH": [{"exists": False}, {"numeric": [">", 0]}],
            }
        },
    }

    def scan(**counts: int) -> dict[str, Any]:
        return {
            "source": "aws.ecr",
            "detail-type": "ECR Image Scan",
            "detail": {"finding-severity-counts": counts},
        }

    assert matches(pattern, scan(CRITICAL=2, HIGH=1))
    assert matches(pattern, scan(CRITICAL=2))
    assert matches(pattern, scan())
    assert not matches(pattern, scan(CRITICAL=0))
    assert not matches(pattern, scan(CRITICAL=3, HIGH=0))


# ---------------------------------------------------------------------------
# Missing keys
# ---------------------------------------------------------------------------


def test_missing_key_fails() -> None:
    assert not matches({"detail": {"nope": ["x"]}}, RULER_SAMPLE)
    assert not matches({"nope": {"deeper": ["x"]}}, RULER_SAMPLE)


def test_missing_intermediate_and_scalar_intermediate() -> None:
    assert not matches({"detail": {"state": {"name": ["running"]}}}, RULER_SAMPLE)
    assert not matches({"a": {"b": ["x"]}}, {"a": None})


# ---------------------------------------------------------------------------
# $or
# ---------------------------------------------------------------------------


def test_ruler_or_top_level() -> None:
    pattern = {
        "source": ["aws.cloudwatch"],
        "$or": [
            {"metricName": ["CPUUtilization", "ReadLatency"]},
            {"namespace": ["AWS/EC2", "AWS/ES"]},
        ],
    }
    assert matches(pattern, {"source": "aws.cloudwatch", "metricName": "CPUUtilization"})
    assert matches(pattern, {"source": "aws.cloudwatch", "namespace": "AWS/ES"})
    assert not matches(pattern, {"source": "aws.cloudwatch", "namespace": "AWS/S3"})
    assert not matches(pattern, {"source": "aws.ec2", "metricName": "CPUUtilization"})


def test_ruler_parallel_or_and_nested_or() -> None:
    parallel = {
        "$or": [{"metricName": ["CPUUtilization"]}, {"namespace": ["AWS/EC2"]}],
        "detail": {"$or": [{"source": ["aws.cloudwatch"]}, {"detail-type": ["Alarm"]}]},
    }
    assert matches(parallel, {"namespace": "AWS/EC2", "detail": {"detail-type": "Alarm"}})
    assert not matches(parallel, {"namespace": "AWS/EC2", "detail": {"source": "aws.ec2"}})

    nested = {
        "source": ["aws.cloudwatch"],
        "$or": [
            {"metricName": ["CPUUtilization"]},
            {
                "metricType": ["MetricType"],
                "namespace": ["AWS/EC2"],
                "$or": [{"metricId": [1234]}, {"spaceId": [1000]}],
            },
            {"scope": ["Service"]},
        ],
    }
    base = {
        "source": "aws.cloudwatch",
        "metricType": "MetricType",
        "namespace": "AWS/EC2",
    }
    assert matches(nested, {**base, "spaceId": 1000})
    assert not matches(nested, {**base, "spaceId": 1})
    assert matches(nested, {"source": "aws.cloudwatch", "scope": "Service"})


def test_or_inside_array_of_objects() -> None:
    pattern = {"items": {"$or": [{"a": ["1"]}, {"b": ["2"]}]}}
    assert matches(pattern, {"items": [{"a": "0"}, {"b": "2"}]})
    assert not matches(pattern, {"items": [{"a": "0"}, {"b": "0"}]})


# ---------------------------------------------------------------------------
# Complex and realistic patterns
# ---------------------------------------------------------------------------


def test_doc_complex_example() -> None:
    pattern = {
        "time": [{"prefix": "2017-10-02"}],
        "detail": {
            "state": [{"anything-but": "initializing"}],
            "c-count": [{"numeric": [">", 0, "<=", 5]}],
            "d-count": [{"numeric": ["<", 10]}],
            "x-limit": [{"anything-but": [100, 200, 300]}],
            "source-ip": [{"cidr": "10.0.0.0/8"}],
        },
    }
    assert matches(pattern, RULER_SAMPLE)
    assert not matches(pattern, {**RULER_SAMPLE, "time": "2017-10-03T00:00:00Z"})
    assert not matches(pattern, _with_detail(RULER_SAMPLE, **{"source-ip": "192.168.0.1"}))


GUARDDUTY_PATTERN: dict[str, Any] = {
    "source": ["aws.guardduty"],
    "detail-type": ["GuardDuty Finding"],
    "detail": {
        "resource": {"resourceType": ["AccessKey"]},
        "severity": [{"numeric": [">=", 7]}],
        "type": [
            {"prefix": "UnauthorizedAccess:IAMUser/"},
            "CredentialAccess:IAMUser/AnomalousBehavior",
        ],
    },
}


def _guardduty_finding(finding_type: str, severity: float, resource_type: str) -> dict[str, Any]:
    return {
        "version": "0",
        "id": "c8c4daa7-a20c-2f03-0070-b7393dd542ad",
        "detail-type": "GuardDuty Finding",
        "source": "aws.guardduty",
        "account": "123456789012",
        "time": "2024-01-01T00:00:00Z",
        "region": "us-east-1",
        "resources": [],
        "detail": {
            "schemaVersion": "2.0",
            "type": finding_type,
            "severity": severity,
            "resource": {
                "resourceType": resource_type,
                "accessKeyDetails": {
                    "accessKeyId": "ASIAEXAMPLE",
                    "principalId": "AIDAEXAMPLE",
                    "userName": "alice",
                    "userType": "IAMUser",
                },
            },
            "service": {"action": {"actionType": "AWS_API_CALL"}},
        },
    }


@pytest.mark.parametrize(
    ("finding_type", "severity", "resource_type", "expected"),
    [
        (
            "UnauthorizedAccess:IAMUser/InstanceCredentialExfiltration.OutsideAWS",
            8,
            "AccessKey",
            True,
        ),
        ("UnauthorizedAccess:IAMUser/MaliciousIPCaller", 7, "AccessKey", True),
        ("CredentialAccess:IAMUser/AnomalousBehavior", 7.5, "AccessKey", True),
        ("UnauthorizedAccess:IAMUser/MaliciousIPCaller", 6.9, "AccessKey", False),
        ("UnauthorizedAccess:EC2/SSHBruteForce", 8, "AccessKey", False),
        ("CredentialAccess:IAMUser/AnomalousBehaviorX", 8, "AccessKey", False),
        ("UnauthorizedAccess:IAMUser/MaliciousIPCaller", 8, "Instance", False),
    ],
)
def test_guardduty_pattern(finding_type: str, severity: float, resource_type: str, expected: bool) -> None:
    event = _guardduty_finding(finding_type, severity, resource_type)
    assert matches(GUARDDUTY_PATTERN, event) is expected


def test_guardduty_wrong_source() -> None:
    event = _guardduty_finding("UnauthorizedAccess:IAMUser/MaliciousIPCaller", 8, "AccessKey")
    event["source"] = "custom.guardduty"
    assert not matches(GUARDDUTY_PATTERN, event)


def test_dotted_pattern_keys_are_flattened_like_event_ruler() -> None:
    event = {"detail": {"state": {"status": "running"}}}
    assert matches({"detail": {"state.status": ["running"]}}, event)
    assert matches(
        {"detail": {"state": {"status": ["running"]}}},
        {"detail": {"state.status": "running"}},
    )


def test_matches_does_not_mutate_inputs() -> None:
    pattern = copy.deepcopy(GUARDDUTY_PATTERN)
    event = _guardduty_finding("UnauthorizedAccess:IAMUser/X", 8, "AccessKey")
    snapshot = copy.deepcopy(event)
    assert matches(pattern, event)
    assert pattern == GUARDDUTY_PATTERN
    assert event == snapshot


# ---------------------------------------------------------------------------
# validate_pattern
# ---------------------------------------------------------------------------


def test_valid_patterns_pass_validation() -> None:
    validate_pattern(GUARDDUTY_PATTERN)
    validate_pattern({"a": [{"exists": False}, {"numeric": [">", 0]}]})
    validate_pattern({"a": [{"anything-but": {"wildcard": ["*/lib/*", "*/bin/*"]}}]})
    validate_pattern({"a": [{"cidr": "2001:db8::/32"}], "b": [None, True, 1.5, ""]})


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        ([], "must be a JSON object"),
        ({}, "Empty objects"),
        ({"a": {}}, "Empty objects"),
        ({"a": "x"}, "must be an object or an array"),
        ({"a": 5}, "must be an object or an array"),
        ({"a": None}, "must be an object or an array"),
        ({"a": []}, "Empty arrays"),
        ({"a": [["x"]]}, "Match values must be"),
        ({"a": [{"contains": "x"}]}, 'Unrecognized match type "contains"'),
        ({"a": [{"prefix": "x", "suffix": "y"}]}, "exactly one operator"),
        ({"a": [{}]}, "exactly one operator"),
        ({"a": [{"prefix": 5}]}, "prefix match pattern must be a string"),
        ({"a": [{"prefix": {"ignore": "x"}}]}, "equals-ignore-case"),
        ({"a": [{"suffix": None}]}, "suffix match pattern must be a string"),
        ({"a": [{"equals-ignore-case": ["x"]}]}, "must be a string"),
        ({"a": [{"exists": "yes"}]}, "exists must be true or false"),
        ({"a": [{"numeric": "> 5"}]}, "numeric must be a non-empty array"),
        ({"a": [{"numeric": []}]}, "numeric must be a non-empty array"),
        ({"a": [{"numeric": [">"]}]}, "one or two operator/number pairs"),
        (
            {"a": [{"numeric": [">", 1, "<", 5, "<", 6]}]},
            "one or two operator/number pairs",
        ),
        ({"a": [{"numeric": ["!=", 5]}]}, "Unrecognized numeric operator"),
        ({"a": [{"numeric": [">", "5"]}]}, "must be numeric"),
        ({"a": [{"numeric": [">", True]}]}, "must be numeric"),
        ({"a": [{"numeric": ["<", 5, ">", 1]}]}, "lower bound"),
        ({"a": [{"numeric": ["=", 5, "<", 6]}]}, "lower bound"),
        ({"a": [{"numeric": [">", 5, "<", 5]}]}, "Bottom must be less than top"),
        ({"a": [{"cidr": "10.0.0.0"}]}, "CIDR notation"),
        ({"a": [{"cidr": "10.0.0.0/33"}]}, "Invalid cidr"),
        ({"a": [{"cidr": "not-an-ip/8"}]}, "Invalid cidr"),
        ({"a": [{"wildcard": "a**b"}]}, "consecutive"),
        ({"a": [{"wildcard": "a\\b"}]}, "backslash"),
        ({"a": [{"anything-but": []}]}, "must not be empty"),
        ({"a": [{"anything-but": None}]}, "strings or numbers"),
        ({"a": [{"anything-but": True}]}, "strings or numbers"),
        ({"a": [{"anything-but": ["x", 1]}]}, "mixed types"),
        ({"a": [{"anything-but": {"numeric": [">", 1]}}]}, "Unsupported anything-but"),
        ({"a": [{"anything-but": {"prefix": ""}}]}, "must not be empty"),
        (
            {"a": [{"anything-but": {"prefix": "a", "suffix": "b"}}]},
            "exactly one nested operator",
        ),
        ({"$or": {"a": ["x"]}}, '"$or" must be an array'),
        ({"$or": [{"a": ["x"]}]}, "at least 2"),
        ({"$or": [{"a": ["x"]}, ["b"]]}, "Only objects"),
        ({"$or": [{"prefix": ["x"]}, {"b": ["y"]}]}, "operator and cannot be used"),
    ],
)
def test_validate_pattern_errors(pattern: Any, message: str) -> None:
    with pytest.raises(PatternError, match=re.escape(message)):
        validate_pattern(pattern)


def test_pattern_error_is_value_error() -> None:
    assert issubclass(PatternError, ValueError)


def test_matches_rejects_invalid_pattern() -> None:
    with pytest.raises(PatternError):
        matches({"source": "aws.ec2"}, EC2_STATE_CHANGE)


def test_error_message_names_the_path() -> None:
    with pytest.raises(PatternError, match=r'"detail\.severity"'):
        validate_pattern({"detail": {"severity": [{"numeric": [">", "high"]}]}})
