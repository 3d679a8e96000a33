"""The Ruby buildpack's pure parts: which Ruby, which gems, which defaults.

The builds themselves are in test_git_build.py (real gems) and
tests/e2e/tasks/test_e2e_rails_real.py (a real Rails app)."""

from __future__ import annotations

import pytest

from herotasks_sandbox import ruby_buildpack as rb

INSTALLED = (((3, 3, 1), "/opt/rubies/3.3.1/bin/ruby", "3.3.0"),
             ((3, 1, 2), "/usr/bin/ruby", "3.1.0"),
             ((2, 7, 8), "/opt/rubies/2.7.8/bin/ruby", "2.7.0"))


@pytest.fixture
def rubies(monkeypatch):
    monkeypatch.setattr(rb, "rubies", lambda: INSTALLED)


@pytest.mark.parametrize("asked, path, exact", [
    ("3.1.2", "/usr/bin/ruby", True),
    ("3.1.4", "/usr/bin/ruby", False),            # same minor, another patch
    ("3.2.0", "/opt/rubies/3.3.1/bin/ruby", False),  # a tie: the newer minor
    ("3.4.1", "/opt/rubies/3.3.1/bin/ruby", False),
    ("2.6.10", "/opt/rubies/2.7.8/bin/ruby", False),
])
def test_the_nearest_installed_ruby(rubies, asked, path, exact):
    chosen, _, _, was_exact = rb.choose_ruby(asked)
    assert (chosen, was_exact) == (path, exact)


def test_no_ruby_is_one_clear_line(monkeypatch):
    monkeypatch.setattr(rb, "rubies", lambda: ())
    with pytest.raises(rb.RubyBuildError) as err:
        rb.choose_ruby("3.1.2")
    assert "No Ruby is installed" in err.value.lines[0]


def test_locked_gems_and_versions_as_the_lock_says():
    lock = ("GEM\n  remote: https://rubygems.org/\n  specs:\n"
            "    nokogiri (1.13.10-x86_64-linux)\n      racc (~> 1.4)\n"
            "    railties (6.1.7.10)\n      rake (>= 12.2)\n\n"
            "RUBY VERSION\n   ruby 3.1.2p20\n\nBUNDLED WITH\n   2.3.15\n")
    assert rb.locked_gems(lock) == {"nokogiri": "1.13.10", "railties": "6.1.7.10"}
    assert rb.RUBY_VERSION.search(lock)[1] == "3.1.2"
    assert rb.BUNDLED_WITH.search(lock)[1] == "2.3.15"


def test_default_process_types_by_framework(tmp_path):
    build = rb.RubyBuild(tmp_path, {}, cache_dir=tmp_path, step=print, info=print,
                         warn=print)
    build.gems = {"rack": "2.2.22"}
    assert build._default_process_types(None)["web"] == \
        "bundle exec rackup config.ru -p ${PORT:-5000}"
    rails = build._default_process_types((6, 1, 7))
    assert rails["web"] == "bin/rails server -p ${PORT:-5000} -e $RAILS_ENV"
    assert rails["console"] == "bin/rails console" and rails["rake"] == "bundle exec rake"


def test_secret_key_base_is_made_once_per_app(tmp_path):
    def secret(cache):
        build = rb.RubyBuild(tmp_path, {}, cache_dir=cache, step=print, info=print,
                             warn=print)
        build.gems = {"railties": "6.1.7.10", "rack": "2.2.22"}
        build._default_config_vars()
        return build.defaults["SECRET_KEY_BASE"]

    first = secret(tmp_path / "app1")
    assert len(first) == 128 and secret(tmp_path / "app1") == first
    assert secret(tmp_path / "app2") != first
    assert (tmp_path / "app1" / "secret_key_base").stat().st_mode & 0o077 == 0
