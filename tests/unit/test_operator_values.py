"""The operator's values, chart references and the kbcli stand-in's view of `kbcli kubeblocks install|upgrade`."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import pytest
import yaml

from kbmc.errors import InputError
from kbmc.operator import chart as charts
from kbmc.operator import values as vals
from tests.standins import standin


def test_contexts_travel_as_one_string_that_renders_whole() -> None:
    doc = vals.multi_cluster_values("mc", ["k8s-1", "k8s-2", "k8s-3"], ["k8s-2"])
    text = yaml.safe_dump(doc)
    again = yaml.safe_load(text)["multiCluster"]
    # The chart renders "--multi-cluster-contexts={{ .Values.multiCluster.contexts }}": a list would become "[...]".
    assert again["contexts"] == "k8s-1,k8s-2,k8s-3" and isinstance(again["contexts"], str)
    assert again == {"kubeConfig": "mc", "contexts": "k8s-1,k8s-2,k8s-3", "contextsDisabled": "k8s-2"}


def test_set_is_read_like_helm() -> None:
    pairs = vals.parse_set("a.b=1,c=true,d=x\\,y,e=null,f=01")
    assert pairs == {"a": {"b": 1}, "c": True, "d": "x,y", "e": None, "f": "01"}
    assert vals.parse_set("a=1", as_string=True) == {"a": "1"}
    merged = vals.user_values([{"a": {"z": 0}}], ["a.b=1,c=true,d=x\\,y,e=null,f=01"], [])
    assert merged["a"] == {"z": 0, "b": 1} and merged["d"] == "x,y"


@pytest.mark.parametrize("value, expected", [
    ("tolerations[0].key=dedicated", {"tolerations": [{"key": "dedicated"}]}),  # a list of maps, as helm
    ("x=99999999999999999999", {"x": "99999999999999999999"}),  # beyond int64: helm keeps the string
    ("r7b.l={a,b}", {"r7b": {"l": ["a", "b"]}}),  # a helm list
    ("a\\.b=1", {"a.b": 1}),
])
def test_set_spellings_helm_reads_differently_from_a_split(value: str, expected: dict) -> None:
    assert vals.parse_set(value) == expected


def test_values_files_are_typed_like_helm() -> None:
    doc = vals.read_values_file("v.yaml", "sci: 1e3\nd: 2024-01-01\nyes: 1\nbig: 12345678901234567890\no: 010\n")
    # helm: go-yaml v2 typing (yes is a bool, 010 octal, 1e3 a float), keys made strings, numbers via float64.
    assert doc == {"sci": 1000, "d": "2024-01-01", "true": 1, "big": 12345678901234567000, "o": 8}


def test_stored_release_values_compare_equal_to_the_same_input() -> None:
    from kbmc.operator.helmvalues import same

    text = "n: 1e3\nd: 2024-01-01\nyes: 1\nbig: 12345678901234567890\n"
    sets = ["tolerations[0].key=dedicated", "x=99999999999999999999", "l={a,b}"]
    desired = vals.user_values([vals.read_values_file("v.yaml", text)], sets, [])
    # What the release stores is JSON: the same values read back from it compare equal, and nothing changed.
    from_release = json.loads(json.dumps(desired))
    assert same(from_release, desired) and vals.changes(from_release, desired) == []
    # true is not 1 (Python's True == 1 must not hide a change).
    assert vals.changes({"a": True}, {"a": 1}) == ["a changed"]


@pytest.mark.parametrize("value", ["multiCluster[0]=x", "multi\\Cluster.contexts=x", "a=1,multiCluster.x=2",
                                   "multiCluster=null", "multiCluster={a,b}", "\\multiCluster.kubeConfig=s"])
def test_every_spelling_of_multicluster_is_refused(value: str) -> None:
    for as_string in (False, True):
        with pytest.raises(InputError, match="kbmc sets multiCluster"):
            vals.parse_set(value, as_string=as_string)


@pytest.mark.parametrize("text", ['"multiCluster": {contexts: x}\n', "base: &b {multiCluster: {contexts: x}}\n<<: *b\n"])
def test_values_file_spellings_of_multicluster_are_refused(text: str) -> None:
    with pytest.raises(InputError, match="sets multiCluster"):
        vals.read_values_file("v.yaml", text)


@pytest.mark.parametrize("value", ["multiCluster.contexts=k8s-1", "nokey", "=v"])
def test_set_refuses_what_kbmc_owns_and_malformed_pairs(value: str) -> None:
    with pytest.raises(InputError):
        vals.parse_set(value)


def test_changes_show_kbmc_values_and_hide_the_users() -> None:
    old = {"multiCluster": {"contexts": "k8s-1,k8s-2", "contextsDisabled": ""}, "auth": {"password": "s3cret"}}
    new = {"multiCluster": {"contexts": "k8s-1,k8s-2,k8s-3", "contextsDisabled": ""}, "auth": {"password": "n3w"}}
    found = vals.changes(old, new)
    assert found == ["auth.password changed", "multiCluster.contexts: k8s-1,k8s-2 -> k8s-1,k8s-2,k8s-3"]
    assert not any("s3cret" in c or "n3w" in c for c in found)
    assert vals.changes(new, new) == []
    # What an installer added on its own is left out when restricted to what kbmc passes.
    live = {**new, "tolerations": [{"key": "kb-controller"}], "image": {"registry": "docker.io"}}
    assert vals.changes(vals.restrict(live, new), new) == []


def _tgz(tmp_path: Path) -> Path:
    path = tmp_path / "kubeblocks-1.2.3.tgz"
    crd = {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
           "metadata": {"name": "things.apps.kubeblocks.io"}}
    files = {"kubeblocks/Chart.yaml": "name: kubeblocks\nversion: 1.2.3\n",
             "kubeblocks/crds/things.yaml": yaml.safe_dump(crd),
             "kubeblocks/charts/sub/crds/other.yaml": "kind: Nope\n"}
    with tarfile.open(path, "w:gz") as tar:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def test_chart_references(tmp_path: Path) -> None:
    assert charts.resolve(None, None) == charts.ChartRef("repo", "kubeblocks", charts.DEFAULT_REPO)
    assert charts.resolve("oci://registry.example/kubeblocks", None).kind == "oci"
    assert charts.resolve("myrepo/kubeblocks", None) == charts.ChartRef("repo", "myrepo/kubeblocks", None)
    tgz = charts.resolve(str(_tgz(tmp_path)), None)
    assert tgz.kind == "tgz" and tgz.local
    assert (charts.chart_metadata(tgz) or {})["version"] == "1.2.3"
    found = charts.chart_crds(tgz)
    assert found is not None and [c["metadata"]["name"] for c in found[1]] == ["things.apps.kubeblocks.io"]
    for missing in ("/nope/chart", "./chart", "kubeblocks-9.9.9.tgz"):
        with pytest.raises(InputError, match="no such chart directory"):
            charts.resolve(missing, None)
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no Chart.yaml"):
        charts.resolve(str(tmp_path / "empty"), None)


def test_crds_source_defaults_to_the_release_manifest() -> None:
    assert charts.crds_source(None, "v1.0.1") == (
        "https://github.com/apecloud/kubeblocks/releases/download/v1.0.1/kubeblocks_crds.yaml")
    with pytest.raises(InputError, match="no such file"):
        charts.crds_source("/nope/crds.yaml", "1.0.1")


def test_load_crds_refuses_other_kinds() -> None:
    with pytest.raises(InputError, match="holds a ConfigMap"):
        charts.load_crds("kind: ConfigMap\n", "x.yaml")


@pytest.mark.parametrize("argv, error", [
    (["kubeblocks", "upgrade", "--create-namespace"], "unknown flag: --create-namespace"),
    (["kubeblocks", "install", "extra"], 'unknown command "extra" for "kbcli kubeblocks install"'),
    (["kubeblocks", "install", "--wait=maybe"], 'invalid argument "maybe" for "--wait"'),
    (["kubeblocks", "install", "--set", "multiCluster.contexts=k8s-1,k8s-2"], 'key "k8s-2" has no value'),
    (["kubeblocks", "install", "-f", "/nope/values.yaml"], "open /nope/values.yaml: no such file"),
])
def test_kbcli_standin_refuses_what_kbcli_refuses(argv: list[str], error: str,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        standin.parse("kbcli", argv)
    assert info.value.code == 1 and error in capsys.readouterr().err


def test_kbcli_standin_accepts_install_and_upgrade_flags(tmp_path: Path) -> None:
    values = tmp_path / "v.yaml"
    values.write_text("a: 1\n")
    command, flags, rest = standin.parse("kbcli", ["kubeblocks", "install", "--version", "0.9.0", "--namespace",
                                                   "kb-system", "--create-namespace", "--values", str(values),
                                                   "--wait=false", "--timeout", "600s", "--context", "cp"])
    assert command == ("kubeblocks", "install") and rest == [] and flags["--wait"] == ["false"]
    command, flags, _ = standin.parse("kbcli", ["kubeblocks", "upgrade", "--auto-approve", "-f", str(values)])
    assert command == ("kubeblocks", "upgrade") and flags["--auto-approve"] == ["true"]


@pytest.mark.parametrize("seconds, flag", [(0.5, "1s"), (0.001, "1s"), (1, "1s"), (1.2, "2s"), (600, "600s")])
def test_installer_timeout_rounds_up_to_whole_seconds(seconds: float, flag: str) -> None:
    from kbmc.operator.install import build_argv
    from kbmc.operator.preflight import Checked, InstallParams

    params = InstallParams("cp", ["k8s-1"], [], "kb-system", "kubeblocks", "mc", "0.9.0", timeout=seconds)
    checked = Checked(charts.resolve(None, None), {}, {})
    for installer in ("helm", "kbcli"):
        params.installer = installer
        argv = build_argv(params, checked, "install", "v.yaml")
        assert argv[argv.index("--timeout") + 1] == flag


def test_left_over_names_user_values_a_run_no_longer_passes() -> None:
    defaults = {"image": {"registry": "docker.io", "tag": ""}, "replicaCount": 1, "crd": {"enabled": True}}
    # After a kbcli upgrade the release holds the chart's defaults and kbcli's own values beside the user's.
    stored = {"image": {"registry": "docker.io", "tag": "0.9.1"}, "replicaCount": 1, "crd": {"enabled": False},
              "multiCluster": {"contexts": "k8s-1"}, "extra": {"a": 1}}
    desired = {"multiCluster": {"contexts": "k8s-1"}}
    assert vals.left_over(stored, desired, defaults) == ["extra", "image.tag"]
    assert vals.left_over(stored, {**desired, "image": {"tag": "0.9.1"}, "extra": {"a": 1}}, defaults) == []
