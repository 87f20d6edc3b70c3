"""Where `make bench` writes its latest results: bench/README.md, between its markers, and nowhere else."""
import json

from bench import report
from bench.common import ROOT
from bench.report import LATEST_END, LATEST_START, write_latest


def _committed_results():
    return [json.loads((ROOT / "bench" / "results" / f"{backend}.json").read_text()) for backend in ("sqlite", "postgresql")]


def test_the_latest_results_go_to_bench_readme_and_never_to_the_top_level_readme(monkeypatch):
    written = []
    monkeypatch.setattr(report, "replace_block", lambda path, *rest: written.append(path))
    write_latest(_committed_results())
    assert written == [ROOT / "bench" / "README.md"]
    assert LATEST_START in (ROOT / "bench" / "README.md").read_text()
    top = (ROOT / "README.md").read_text()
    assert LATEST_START not in top and LATEST_END not in top and "Budgets:" not in top


def test_the_results_replace_what_stood_between_the_markers_and_nothing_else(tmp_path):
    page = tmp_path / "README.md"
    page.write_text(f"# The benchmark\n\nMethod.\n\n{LATEST_START}\nlast run's figures\n{LATEST_END}\n\nFindings.\n")
    write_latest(_committed_results(), path=page)
    text = page.read_text()
    head, rest = text.split(LATEST_START)
    block, tail = rest.split(LATEST_END)
    assert head == "# The benchmark\n\nMethod.\n\n" and tail == "\n\nFindings.\n"
    assert "last run's figures" not in block
    assert "**sqlite**" in block and "**postgresql**" in block and "| Keys: date range + sort |" in block
