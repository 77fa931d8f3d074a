"""Counts test cases across Bazel's test.xml files and prints `N passed, N failed`.

A target that failed to build or produced no XML counts as one failure, so a
broken build can never look green. Exit status: 0 only when nothing failed.
"""
import os
import re
import sys
import xml.etree.ElementTree as ET

log_path, testlogs, extra_pass, extra_fail, bazel_rc = sys.argv[1:6]
passed, failed = int(extra_pass), int(extra_fail)

status_re = re.compile(r"^(//\S+)\s+(?:\(cached\)\s+)?(PASSED|FAILED|FLAKY|TIMEOUT|NO STATUS|FAILED TO BUILD|INCOMPLETE)")
seen = 0
with open(log_path, errors="replace") as f:
    for line in f:
        m = status_re.match(line.strip())
        if not m:
            continue
        seen += 1
        target, status = m.group(1), m.group(2)
        xml = os.path.join(testlogs, target[2:].replace(":", "/"), "test.xml")
        cases = fails = 0
        if os.path.exists(xml) and status in ("PASSED", "FAILED", "FLAKY"):
            try:
                for tc in ET.parse(xml).getroot().iter("testcase"):
                    cases += 1
                    if tc.find("failure") is not None or tc.find("error") is not None:
                        fails += 1
            except ET.ParseError:
                cases = fails = 0
        if status == "PASSED":
            passed += max(cases - fails, 1)
        else:
            failed += max(fails, 1)
            passed += max(cases - max(fails, 1), 0)
            print(f"FAILED: {target} ({status})")

if seen == 0:
    print("no test results found in the bazel output")
    failed += 1
elif int(bazel_rc) not in (0,) and failed == 0:
    print(f"bazel exited with {bazel_rc}")
    failed += 1
print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
