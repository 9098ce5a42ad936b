"""The rubric is checked once into one immutable object; a wrong key or value names itself and the fix."""
import dataclasses
import tomllib
from pathlib import Path

import pytest

from grader import rubric as rubric_mod
from locked import settings


def _load(tmp_path, text):
    path = tmp_path / "rubric.toml"
    path.write_text(text)
    return rubric_mod.load(path)


def test_defaults_load_into_an_immutable_object():
    rubric = rubric_mod.load()
    assert rubric.limits.threads == 1 and rubric.limits.sandbox_uids == (2_000_000, 2_009_999)
    assert rubric.max_score == 90 and rubric.check("mel_recall_bonus").bonus
    with pytest.raises(dataclasses.FrozenInstanceError):
        rubric.limits.time_limit_s = 1


@pytest.mark.parametrize("text, words", [
    ("[limits]\ntime_limt_s = 100\n", "unknown key 'time_limt_s'; the keys are time_limit_s"),
    ("[limits]\nmemory_limit_mb = -5\n", "[limits] memory_limit_mb = -5: must be > 0"),
    ("[limits]\nthreads = 2.5\n", "[limits] threads = 2.5: expected a whole number"),
    ("[limits]\nsandbox_uids = [0, 10]\n", "sandbox_uids = [0, 10]: give [first, last]"),
    ("[limits]\nsandbox_uids = [5000]\n", "sandbox_uids = [5000]: give [first, last]"),
    ("[limits]\nmax_processes = 2\n", "max_processes = 2: must be >= 16"),
    ("[limits]\nscratch_mb = 0\n", "scratch_mb = 0: must be >= 1"),
    ("[checks.test_aucc]\npoints = 1\n", "unknown key 'test_aucc'"),
    ("[checks.trains]\nvisibility = \"secret\"\n", "visibility = 'secret': use one of visible, hidden"),
    ("[checks.trains]\nbonus = \"yes\"\n", "bonus = 'yes': use true or false"),
    ("[checks.trains]\nthreshold = 0.5\n", "[checks.trains]: unknown key 'threshold'"),
    ("[checks.test_auc]\ntarget = 1.5\n", "target = 1.5: must be >= 0 and <= 1"),
    ("[limits\n", "not valid TOML"),
    ("[limits]\ndevice = \"gpu\"\n", "device = 'gpu': use \"cpu\" or \"cuda\""),
    ("[limits]\non_time_limit = \"half\"\n", "on_time_limit = 'half': use \"score\""),
    ("[limits]\non_time_limit = [\"zero\"]\n", "on_time_limit = ['zero']: use \"score\""),
])
def test_a_wrong_rubric_names_the_key_and_the_fix(tmp_path, text, words):
    with pytest.raises(rubric_mod.RubricError) as err:
        _load(tmp_path, text)
    assert words in str(err.value) and "rubric.toml" in str(err.value)


def test_a_run_cut_by_the_time_limit_is_scored_unless_the_rubric_says_zero(tmp_path):
    assert rubric_mod.load().limits.on_time_limit == settings.ON_TIME_LIMIT == "score"
    assert _load(tmp_path, "[limits]\non_time_limit = \"zero\"\n").limits.on_time_limit == "zero"


def test_the_bonus_is_a_flag_not_a_key_name(tmp_path):
    rubric = _load(tmp_path, "[checks.mel_recall_bonus]\nbonus = false\n[checks.trains]\nbonus = true\n")
    assert rubric.max_score == 90 + 10 - 10


def test_command_line_limits_are_checked_like_the_file():
    assert rubric_mod.load(time_limit_s=60).limits.time_limit_s == 60
    with pytest.raises(rubric_mod.RubricError, match="time_limit_s = -1"):
        rubric_mod.load(time_limit_s=-1)


def test_settings_name_the_variable_and_keep_old_names():
    assert settings.flag("DERMA_SYNTHETIC", {"DERMAMNIST_SYNTHETIC": "1"}) is True
    assert settings.flag("DERMA_SYNTHETIC", {"DERMAMNIST_SYNTHETIC": "1", "DERMA_SYNTHETIC": "0"}) is False
    with pytest.raises(settings.SettingError, match="DERMA_SYNTHETIC='maybe'"):
        settings.flag("DERMA_SYNTHETIC", {"DERMA_SYNTHETIC": "maybe"})
    with pytest.raises(settings.SettingError, match="DERMA_THREADS='two' is not a whole number"):
        settings.number("DERMA_THREADS", 2, kind=int, environ={"DERMA_THREADS": "two"})
    with pytest.raises(settings.SettingError, match="DERMA_SYNTHETIC_SCALE='0' is below its minimum"):
        settings.number("DERMA_SYNTHETIC_SCALE", 1.0, minimum=0.001, environ={"DERMAMNIST_SYNTHETIC_SCALE": "0"})


def test_an_old_name_works_with_a_deprecation_note_once(capsys, monkeypatch):
    monkeypatch.setattr(settings, "_deprecation_noted", set())
    old = {"DERMAMNIST_ROOT": "/data"}
    assert str(settings.path("DERMA_DATA_DIR", old)) == "/data"
    assert str(settings.path("DERMA_DATA_DIR", old)) == "/data"
    assert capsys.readouterr().err.splitlines() == [
        "Note: DERMAMNIST_ROOT is deprecated and will stop working; set DERMA_DATA_DIR instead."]
    settings.path("DERMA_DATA_DIR", {"DERMA_DATA_DIR": "/new", **old})  # the new name: no note
    assert capsys.readouterr().err == ""


def test_the_course_terms_are_the_rubrics_defaults():
    """One source: the course's time limit, AUC target and bonus rule are defined in locked/ (settings.py, info.py); grader/rubric.toml
    documents them without setting them, so the default rubric and the student's terms (locked/terms.py, without a
    kit's terms.json) are the same numbers."""
    from locked import info, settings, terms

    raw = tomllib.loads(rubric_mod.DEFAULT.read_text())
    assert "time_limit_s" not in raw["limits"] and "target" not in raw["checks"]["test_auc"]
    assert not {"threshold", "max_false_alarm"} & set(raw["checks"]["mel_recall_bonus"])
    assert terms.of_rubric(rubric_mod.load()) == terms.Terms() == terms.load(Path("/nonexistent/terms.json"))
    assert (terms.Terms().time_limit_s, terms.Terms().auc_target) == (settings.TIME_LIMIT_S, info.TARGET_AUC)


def test_the_bonus_false_alarm_limit_defaults_to_the_courses_and_is_checked(tmp_path):
    """One source: locked/info.py's MAX_MEL_FALSE_ALARM, which rubric.toml documents without setting it; an
    instructor's value is read, and a wrong one names the key and the range."""
    from locked.info import MAX_MEL_FALSE_ALARM

    default = rubric_mod.load().check("mel_recall_bonus")
    assert default.max_false_alarm == MAX_MEL_FALSE_ALARM
    assert "# max_false_alarm " in rubric_mod.DEFAULT.read_text()
    assert rubric_mod.load().as_dict()["checks"]["mel_recall_bonus"]["max_false_alarm"] == MAX_MEL_FALSE_ALARM
    assert _load(tmp_path, "[checks.mel_recall_bonus]\nmax_false_alarm = 1\n").check("mel_recall_bonus") \
        .max_false_alarm == 1.0  # 1: no limit, the bonus on recall alone
    for value, words in (("25", "max_false_alarm = 25: must be >= 0 and <= 1"),
                         ("-0.1", "max_false_alarm = -0.1: must be >= 0 and <= 1"),
                         ('"25%"', "max_false_alarm = '25%': expected a number"),
                         ("true", "max_false_alarm = True: expected a number")):
        with pytest.raises(rubric_mod.RubricError) as err:
            _load(tmp_path, f"[checks.mel_recall_bonus]\nmax_false_alarm = {value}\n")
        assert f"[checks.mel_recall_bonus] {words}" in str(err.value), str(err.value)
    with pytest.raises(rubric_mod.RubricError, match=r"\[checks.test_auc\]: unknown key 'max_false_alarm'"):
        _load(tmp_path, "[checks.test_auc]\nmax_false_alarm = 0.2\n")
