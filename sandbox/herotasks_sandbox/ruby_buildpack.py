"""The sandbox's heroku/ruby: the lock's gems into the slug, assets, env defaults.

It follows heroku-buildpack-ruby (``bin/detect``, ``lib/language_pack.rb``
``LanguagePack.call``, ``lib/language_pack/ruby.rb``, ``rails4.rb``,
``helpers/default_env_vars.rb``): a ``Gemfile`` makes a Ruby app and a
``Gemfile.lock`` is required; the Ruby version comes from the lock's ``RUBY
VERSION`` (else the buildpack's default, with its warning); ``bundle install
-j4`` runs with the buildpack's ``BUNDLE_WITHOUT``/``BUNDLE_PATH``/
``BUNDLE_BIN``/``BUNDLE_DEPLOYMENT`` into ``vendor/bundle``; a Rails app's
``assets:precompile`` is skipped when a sprockets manifest is committed, else
run (then ``assets:clean``) with the buildpack's rake environment; the
default process types fill in what the Procfile lacks; ``.profile.d/ruby.sh``
gets the buildpack's defaults (``RAILS_ENV``, ``RACK_ENV``, a
``SECRET_KEY_BASE`` generated once per app and kept in the build cache,
``RAILS_SERVE_STATIC_FILES``, ``RAILS_LOG_TO_STDOUT``, ``GEM_PATH``, ``PATH``).

Where the sandbox must differ, the build output says so:

- no Ruby is downloaded: the installed Ruby nearest to the one asked for runs
  the build and the dynos (from the machine, not from the slug);
- no gem registry is reachable: the lock's gems are copied from this
  machine's installed gems (Debian's packages: one version of each) into
  ``vendor/bundle`` first, then the buildpack's ``bundle install`` line runs
  with ``--local``, so a gem the machine lacks fails the build with Bundler's
  own message instead of a download;
- the machine's bundler runs, whatever ``BUNDLED WITH`` says.
"""

from __future__ import annotations

import functools
import glob
import os
import re
import secrets
import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import Callable

#: ``bin/detect``: a Gemfile makes a Ruby app.
DETECT_FILES = ("Gemfile",)
#: ``lib/language_pack/ruby_version.rb`` DEFAULT_VERSION_NUMBER.
DEFAULT_RUBY = "3.3.9"
#: ``helpers/bundler_wrapper.rb`` DEFAULT_VERSION.
DEFAULT_BUNDLER = "2.5.23"
#: ``bin/support/ruby_compile.rb``: ``bundle_default_without``.
BUNDLE_WITHOUT = "development:test"
#: ``lib/language_pack/rails4.rb`` ``run_assets_precompile_rake_task``.
ASSET_MANIFESTS = ("public/assets/.sprockets-manifest-*.json",
                   "public/assets/manifest-*.json")
#: ``shell_helpers.rb`` ``blacklist?``: config vars the build never takes.
DENIED_VARS = ("PATH", "GEM_PATH", "GEM_HOME", "GIT_DIR", "JRUBY_OPTS", "JAVA_OPTS",
               "JAVA_TOOL_OPTIONS", "RUBYOPT")
#: What the build's commands may take from the sandbox's own environment.
SAFE_ENV = ("LANG", "LC_ALL", "TZ", "TMPDIR")
#: Heroku's slug compiler gives up after 15 minutes; so does each command here.
COMMAND_TIMEOUT = 15 * 60

RUBY_VERSION = re.compile(r"^RUBY VERSION\r?\n {2,3}ruby (\d+\.\d+\.\d+)", re.M)
BUNDLED_WITH = re.compile(r"^BUNDLED WITH\r?\n {2,3}(\d+\.\d+\.\d+)", re.M)
LOCKED_GEM = re.compile(r"^    ([\w.-]+) \(([^)]+)\)$", re.M)

# Copies the lock's gems from the machine's installed gems into the bundle
# path, as downloaded .gem files would have given them: the gem directory
# (built from the files Debian keeps in vendor_ruby when the gem directory is
# absent), its specification and its compiled extensions. Gems the machine
# lacks are left for `bundle install --local` to report; default gems (part
# of Ruby) need no copy.
COPY_GEMS_RB = r'''
require "bundler"
require "fileutils"
lock = Bundler::LockfileParser.new(File.read(ARGV[0]))
dest = ARGV[1]
vendor = [RbConfig::CONFIG["vendorlibdir"], RbConfig::CONFIG["vendorarchdir"]].compact
%w[gems specifications extensions].each { |d| FileUtils.mkdir_p(File.join(dest, d)) }
# Bundler itself goes into the bundle path too, as the buildpack installs the
# BUNDLED WITH version there (BundlerWrapper#install): that version when the
# machine has it, else the machine's newest.
bundlers = Gem::Specification.find_all_by_name("bundler").reject(&:default_gem?)
bundler = bundlers.find { |s| s.version.to_s == ARGV[2] } || bundlers.max_by(&:version)
wanted = lock.specs.select { |l| l.source.is_a?(Bundler::Source::Rubygems) }.map do |locked|
  Gem::Specification.find_all_by_name(locked.name, "= #{locked.version}").find do |s|
    !s.default_gem? && (locked.platform.to_s == "ruby" || s.platform.to_s == locked.platform.to_s)
  end
end
[bundler, *wanted].compact.each do |spec|
  specfile = File.join(dest, "specifications", "#{spec.full_name}.gemspec")
  next if File.exist?(specfile)
  target = File.join(dest, "gems", spec.full_name)
  if File.directory?(spec.gem_dir)
    FileUtils.cp_r(spec.gem_dir, target)
  else
    FileUtils.mkdir_p(target)
    spec.files.each do |file|
      prefix = spec.require_paths.find { |r| file.start_with?("#{r}/") } or next
      rest = file.delete_prefix("#{prefix}/")
      src = vendor.map { |v| File.join(v, rest) }.find { |p| File.file?(p) } or next
      FileUtils.mkdir_p(File.dirname(File.join(target, file)))
      FileUtils.cp(src, File.join(target, file))
    end
  end
  if File.directory?(spec.extension_dir)
    rel = spec.extension_dir.delete_prefix(spec.base_dir + "/")
    FileUtils.mkdir_p(File.dirname(File.join(dest, rel)))
    FileUtils.cp_r(spec.extension_dir, File.join(dest, rel))
  end
  FileUtils.cp(spec.loaded_from, specfile)
end
# The bundler `bundle` will run in the build: the one copied, else Ruby's own.
own = Gem::Specification.find_all_by_name("bundler").select(&:default_gem?)
puts((bundler || own.max_by(&:version))&.version)
'''


class RubyBuildError(Exception):
    """A build failure the app's owner can fix; ``lines`` go to the log."""

    def __init__(self, *lines: str):
        super().__init__(lines[0])
        self.lines = lines


def locked_gems(lock_text: str) -> dict[str, str]:
    """name -> version of the lock's specs (``bundler.gem_version``)."""
    return {m[1]: m[2].split("-")[0] for m in LOCKED_GEM.finditer(lock_text)}


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(x) for x in re.findall(r"\d+", text)[:3])


@functools.lru_cache(maxsize=1)
def rubies() -> tuple[tuple[tuple[int, ...], str, str], ...]:
    """The installed Rubies: (version, path, ABI version such as "3.1.0"),
    newest first."""
    found: dict[str, tuple[tuple[int, ...], str, str]] = {}
    candidates = [shutil.which("ruby"), *glob.glob("/usr/bin/ruby[0-9]*"),
                  *glob.glob("/usr/local/bin/ruby"), *glob.glob("/opt/rubies/*/bin/ruby")]
    for path in filter(None, candidates):
        real = os.path.realpath(path)
        if real in found or not os.access(real, os.X_OK):
            continue
        try:
            done = subprocess.run(
                [real, "-e", 'print RUBY_VERSION, " ", RbConfig::CONFIG["ruby_version"]'],
                capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)
        except (OSError, subprocess.TimeoutExpired):
            continue
        parts = done.stdout.split()
        if done.returncode == 0 and len(parts) == 2:
            found[real] = (_version(parts[0]), path, parts[1])
    return tuple(sorted(found.values(), reverse=True))


def choose_ruby(requested: str) -> tuple[str, str, str, bool]:
    """The Ruby for ``requested`` ("3.1.2"): (path, version, ABI, exact).
    The same version, else the newest of the same minor, else the nearest
    minor (the newer on a tie)."""
    available = rubies()
    if not available:
        raise RubyBuildError(
            "No Ruby is installed on this machine: the sandbox cannot download one.",
            "Install Ruby (scripts/bootstrap does: apt-get install ruby bundler).")
    want = _version(requested)
    for v, path, abi in available:
        if v == want:
            return path, ".".join(map(str, v)), abi, True
    same = [r for r in available if r[0][:2] == want[:2]]
    v, path, abi = same[0] if same else min(
        available, key=lambda r: (abs(r[0][0] * 100 + r[0][1] - want[0] * 100 - want[1]),
                                  [-x for x in r[0]]))
    return path, ".".join(map(str, v)), abi, False


class RubyBuild:
    """One compile of one Ruby app, writing the build output through ``step``
    (``----->`` lines), ``info`` (indented) and ``warn`` (`` !``)."""

    def __init__(self, tree: Path, config: dict[str, str], *, cache_dir: Path,
                 step: Callable[[str], None], info: Callable[[str], None],
                 warn: Callable[[str], None], source_version: str | None = None,
                 stack: str = "heroku-24"):
        self.tree = tree
        self.stack = stack
        self.user_env = {k: v for k, v in config.items() if k not in DENIED_VARS}
        self.cache_dir = cache_dir
        self.step, self.info, self.warn = step, info, warn
        self.source_version = source_version
        self.gems: dict[str, str] = {}
        self.env: dict[str, str] = {}
        self.defaults: dict[str, str] = {}
        self.abi = ""

    # -- the steps ------------------------------------------------------------------
    def compile(self) -> dict[str, str]:
        """Everything ``LanguagePack.call`` does; returns the buildpack's
        default process types."""
        lock_path = self.tree / "Gemfile.lock"
        if not lock_path.is_file():
            # language_pack.rb LanguagePack.gemfile_lock
            raise RubyBuildError("Gemfile.lock required. Please check it in.")
        lock = lock_path.read_text(errors="replace")
        self.gems = locked_gems(lock)
        bundler_version = self._bundler_version(lock)
        ruby, ruby_exe = self._ruby(lock)
        self._remove_vendor_bundle()
        self._default_config_vars()
        self._environment(ruby_exe)
        self._bundle_install(lock_path, bundler_version)
        rails = self.gems.get("railties")
        rails_v = _version(rails) if rails else None
        name = "Ruby/Rails" if rails_v and rails_v >= (3,) else \
            "Ruby/Rack" if "rack" in self.gems else "Ruby"
        self.step(f"Compiling {name}")
        if rails_v and rails_v >= (6,):
            (self.tree / "tmp" / "pids").mkdir(parents=True, exist_ok=True)
        if rails_v and rails_v >= (4,):
            self._assets_precompile()
        self._write_profile()
        return self._default_process_types(rails_v)

    def _bundler_version(self, lock: str) -> str:
        m = BUNDLED_WITH.search(lock)
        if m is None:
            self._warning(f"Using default bundler version `{DEFAULT_BUNDLER}`", "",
                          "The Ruby buildpack uses the `BUNDLED WITH` value in your "
                          "`Gemfile.lock` to determine the version",
                          "of bundler to install. Your `Gemfile.lock` does not contain "
                          "this section.")
            return DEFAULT_BUNDLER
        return m[1]

    def _ruby(self, lock: str) -> tuple[str, str]:
        """``RubyVersion.from_gemfile_lock`` and ``install_ruby``."""
        m = RUBY_VERSION.search(lock)
        requested = m[1] if m else DEFAULT_RUBY
        path, full, self.abi, exact = choose_ruby(requested)
        self.step(f"Using Ruby version: ruby-{requested}")
        if m is None:
            self._warning("You have not declared a Ruby version in your Gemfile.", "",
                          "To declare a Ruby version add this line to your Gemfile:",
                          "", f'ruby "{DEFAULT_RUBY}"', "",
                          "For more information see:",
                          "  https://devcenter.heroku.com/articles/ruby-versions")
        if not exact:
            self._warning(f"Note: Ruby {requested} is not installed on this machine "
                          "and the sandbox", "cannot download Rubies: it uses the "
                          f"nearest one it has, Ruby {full}.")
        return full, path

    def _remove_vendor_bundle(self) -> None:
        """``Ruby.remove_vendor_bundle``."""
        vendor_bundle = self.tree / "vendor" / "bundle"
        if vendor_bundle.exists():
            self._warning("Removing `vendor/bundle`.",
                          "Checking in `vendor/bundle` is not supported. Please remove "
                          "this directory", "and add it to your .gitignore. To vendor "
                          "your gems with Bundler, use", "`bundle pack` instead.")
            shutil.rmtree(vendor_bundle)

    def _default_config_vars(self) -> None:
        """``Ruby.default_config_vars`` / ``DefaultEnvVars.call``; the secret
        is made once per app and kept in its build cache (``metadata``)."""
        out = {"LANG": "en_US.UTF-8", "PUMA_PERSISTENT_TIMEOUT": "95"}
        rack, rails = self.gems.get("rack"), self.gems.get("railties")
        if rack:
            out["RACK_ENV"] = "production"
        if rails:
            out["RAILS_ENV"] = "production"
        rails_v = _version(rails) if rails else ()
        if rails_v >= (4, 1):
            out["SECRET_KEY_BASE"] = self._secret_key_base()
        if rails_v >= (4, 2):
            out["RAILS_SERVE_STATIC_FILES"] = "enabled"
        if rails_v >= (5,):
            out["RAILS_LOG_TO_STDOUT"] = "enabled"
        self.defaults = out

    def _secret_key_base(self) -> str:
        path = self.cache_dir / "secret_key_base"
        try:
            return path.read_text().strip()
        except FileNotFoundError:
            secret = secrets.token_hex(64)
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(secret)
            return secret

    def _environment(self, ruby_exe: str) -> None:
        """``Ruby.setup_language_pack_environment``: the build's ENV."""
        tree = self.tree
        gem_dir = str(tree / "vendor" / "bundle" / "ruby" / self.abi)
        env = {k: os.environ[k] for k in SAFE_ENV if k in os.environ}
        env.update(HOME=str(tree), STACK=self.stack)
        if self.source_version:
            env["SOURCE_VERSION"] = self.source_version
        for key, value in self.defaults.items():
            env.setdefault(key, value)
        ruby_dir = str(Path(ruby_exe).parent)
        system = [p for p in os.environ.get("PATH", os.defpath).split(os.pathsep) if p]
        env["PATH"] = os.pathsep.join([str(tree / "bin"), str(tree / "vendor/bundle/bin"),
                                       f"{gem_dir}/bin", ruby_dir,
                                       *[p for p in system if p != ruby_dir]])
        # Heroku builds do not run as root; the sandbox may, and Bundler's
        # warning about it would only be noise in the build output.
        env["BUNDLE_SILENCE_ROOT_WARNING"] = "1"
        env.update(GEM_PATH=gem_dir, GEM_HOME=gem_dir, DISABLE_SPRING="1",
                   BUNDLE_WITHOUT=self.user_env.get("BUNDLE_WITHOUT", BUNDLE_WITHOUT)
                   .replace(" ", ":"),
                   BUNDLE_PATH="vendor/bundle", BUNDLE_BIN="vendor/bundle/bin",
                   BUNDLE_DEPLOYMENT="1")
        self.env = env

    def _bundle_install(self, lock: Path, bundler_version: str) -> None:
        """``Ruby.build_bundler``, from the machine's gems."""
        if (self.tree / ".bundle" / "config").exists():
            self._warning("You have the `.bundle/config` file checked into your "
                          "repository", "  It contains local state like the location "
                          "of the installed bundle", "  Please remove the `.bundle/` "
                          "folder from your repo and add it to your `.gitignore` file.")
        env = self.env
        dest = self.tree / "vendor" / "bundle" / "ruby" / self.abi
        copy_env = {k: v for k, v in env.items()
                    if not k.startswith(("BUNDLE_", "GEM_"))}
        printed: list[str] = []
        self._run(["ruby", "-e", COPY_GEMS_RB, str(lock), str(dest), bundler_version],
                  copy_env, show=False, what="gem copy", collect=printed)
        machine = printed[-1].strip() if printed else ""
        if not machine or shutil.which("bundle", path=env["PATH"]) is None:
            raise RubyBuildError("The sandbox needs bundler to build Ruby apps: "
                                 "apt-get install bundler (scripts/bootstrap does).")
        self.step(f"Installing dependencies using bundler {bundler_version}")
        if machine != bundler_version:
            self.info(f"(the sandbox cannot install bundler {bundler_version}: it runs "
                      f"this machine's bundler {machine})")
        line = (f"BUNDLE_WITHOUT='{env['BUNDLE_WITHOUT']}' BUNDLE_PATH={env['BUNDLE_PATH']}"
                f" BUNDLE_BIN={env['BUNDLE_BIN']} BUNDLE_DEPLOYMENT="
                f"{env['BUNDLE_DEPLOYMENT']} bundle install -j4")
        self.info(f"Running: {line}")
        self.info("(no gem registry is reachable: the sandbox copies the lock's gems "
                  "from this machine's installed gems into vendor/bundle, then runs "
                  "it with --local)")
        bundle_env = {**self.user_env, **env,
                      "BUNDLE_GEMFILE": str(self.tree / "Gemfile"),
                      "BUNDLE_CONFIG": str(self.tree / ".bundle" / "config"),
                      "NOKOGIRI_USE_SYSTEM_LIBRARIES": "true",
                      "BUNDLE_DISABLE_VERSION_CHECK": "true"}
        start = time.monotonic()
        rc = self._run(["bundle", "install", "-j4", "--local", "--no-clean"], bundle_env)
        if rc != 0:
            raise RubyBuildError("Failed to install gems via Bundler.")
        self.info(f"Bundle completed ({time.monotonic() - start:.2f}s)")
        self.info("Cleaning up the bundler cache.")
        self._run(["bundle", "clean"], bundle_env, show=False)
        shutil.rmtree(dest / "cache", ignore_errors=True)

    def _rake_env(self) -> dict[str, str]:
        """``Rails3#rake_env`` over ``Ruby#rake_env``: the environment names,
        the assets group, a dummy DATABASE_URL, then the config vars."""
        env = {"RAILS_ENV": "production", "RACK_ENV": "production",
               "RAILS_GROUPS": "assets"}
        database_url = self.user_env.get("DATABASE_URL") or \
            ("postgres://user:pass@127.0.0.1/dbname" if "pg" in self.gems else None)
        if database_url:
            env["DATABASE_URL"] = database_url
        return {**self.env, **env, **self.user_env}

    def _assets_precompile(self) -> None:
        """``Rails4#run_assets_precompile_rake_task`` and ``#cleanup``."""
        manifest = next((p for pattern in ASSET_MANIFESTS
                         for p in sorted(self.tree.glob(pattern))), None)
        if manifest is not None:
            self.info("Detected manifest file, assuming assets were compiled locally")
            self._clean_assets_cache()
            return
        env = self._rake_env()
        self.step("Detecting rake tasks")
        listing = subprocess.run(["rake", "-P"], cwd=self.tree, env=env, text=True,
                                 capture_output=True, stdin=subprocess.DEVNULL,
                                 timeout=COMMAND_TIMEOUT)
        if listing.returncode != 0:
            for line in (listing.stdout + listing.stderr).splitlines():
                self.info(line)
            raise RubyBuildError("Could not detect rake tasks",
                                 "ensure you can run `$ bundle exec rake -P` against "
                                 "your app", "and using the production group of your "
                                 "Gemfile.")
        tasks = set(re.findall(r"^rake (\S+)$", listing.stdout, re.M))
        if "assets:precompile" not in tasks:
            return
        self.step("Preparing app for Rails asset pipeline")
        self.info("Running: rake assets:precompile")
        start = time.monotonic()
        output: list[str] = []
        if self._run(["rake", "assets:precompile"], env, collect=output) != 0:
            lines = ["Precompiling assets failed."]
            if any(re.search(r"127\.0\.0\.1|org\.postgresql\.util", o) for o in output):
                lines += ["Attempted to access a nonexistent database:",
                          "https://devcenter.heroku.com/articles/pre-provision-database"]
            raise RubyBuildError(*lines)
        self.info(f"Asset precompilation completed ({time.monotonic() - start:.2f}s)")
        if "assets:clean" in tasks:
            self.info("Cleaning assets")
            self.info("Running: rake assets:clean")
            if self._run(["rake", "assets:clean"], env) != 0:
                raise RubyBuildError("Precompiling assets failed.")

    def _clean_assets_cache(self) -> None:
        """``Rails4#cleanup``: tmp/cache/assets leaves the slug (the app does
        not compile assets at run time)."""
        shutil.rmtree(self.tree / "tmp" / "cache" / "assets", ignore_errors=True)

    def _default_process_types(self, rails_v: tuple[int, ...] | None) -> dict[str, str]:
        """``default_process_types`` of Ruby, Rack and Rails4+ (rails4.rb)."""
        types = {"rake": "bundle exec rake", "console": "bundle exec irb"}
        if rails_v and rails_v >= (4,):
            types.update(web="bin/rails server -p ${PORT:-5000} -e $RAILS_ENV",
                         console="bin/rails console")
        elif rails_v and rails_v >= (3,):
            types.update(web="bundle exec rails server -p ${PORT:-5000}",
                         console="bundle exec rails console")
        elif "rack" in self.gems:
            types["web"] = "bundle exec rackup config.ru -p ${PORT:-5000}"
        return types

    def _write_profile(self) -> None:
        """``Ruby#setup_profiled``: defaults (``set_env_default``) first, then
        the overrides, into ``.profile.d/ruby.sh``; an empty
        ``WEB_CONCURRENCY.sh`` (no SENSIBLE_DEFAULTS)."""
        gem_dir = f"$HOME/vendor/bundle/ruby/{self.abi}"
        lines = [f"export {k}=${{{k}:-{v}}}" for k, v in self.defaults.items()]
        lines += [f'export GEM_PATH="{gem_dir}:$GEM_PATH"',
                  f'export PATH="$HOME/bin:$HOME/vendor/bundle/bin:{gem_dir}/bin:$PATH"',
                  'export DISABLE_SPRING="1"',
                  "export MALLOC_ARENA_MAX=${MALLOC_ARENA_MAX:-2}",
                  f"export BUNDLE_PATH=${{BUNDLE_PATH:-{self.env['BUNDLE_PATH']}}}",
                  f"export BUNDLE_WITHOUT=${{BUNDLE_WITHOUT:-{self.env['BUNDLE_WITHOUT']}}}",
                  f"export BUNDLE_BIN=${{BUNDLE_BIN:-{self.env['BUNDLE_BIN']}}}",
                  "export BUNDLE_DEPLOYMENT=${BUNDLE_DEPLOYMENT:-1}"]
        profile = self.tree / ".profile.d"
        profile.mkdir(exist_ok=True)
        with open(profile / "ruby.sh", "a") as f:
            f.writelines(line + "\n" for line in lines)
        (profile / "WEB_CONCURRENCY.sh").write_text("\n")

    # -- helpers ------------------------------------------------------------------------
    def _warning(self, *lines: str) -> None:
        self.info("")
        self.warn("###### WARNING:")
        self.info("")
        for line in lines:
            self.info(line)
        self.info("")

    def _run(self, argv: list[str], env: dict[str, str], *, show: bool = True,
             what: str | None = None, collect: list[str] | None = None) -> int:
        """Run a build command in the tree, its output indented into the log
        (``show``); ``what`` set: a failure is the sandbox's, not the app's."""
        exe = shutil.which(argv[0], path=env["PATH"]) or argv[0]
        proc = subprocess.Popen([exe, *argv[1:]], cwd=self.tree, env=env,
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, start_new_session=True)
        assert proc.stdout is not None
        timer = threading.Timer(COMMAND_TIMEOUT, _kill_group, (proc,))
        timer.start()
        lines = []
        try:
            for raw in proc.stdout:
                line = raw.decode("utf-8", "replace").rstrip("\n")
                lines.append(line)
                if show:
                    self.info(line)
            rc = proc.wait()
        finally:
            timer.cancel()
        if rc < 0:
            self.warn(f"{' '.join(argv[:3])} was stopped after "
                      f"{COMMAND_TIMEOUT // 60} minutes.")
        if collect is not None:
            collect.extend(lines)
        if rc != 0 and what:
            for line in lines if not show else ():
                self.info(line)
            raise RubyBuildError(f"The sandbox's {what} failed (exit {rc}).")
        return rc


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
