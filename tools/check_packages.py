#!/usr/bin/env python3
"""The package recipes agree with each other and with what `cmake --install` installs.

    python3 tools/check_packages.py [CXX]

Checks, without vcpkg or conan (neither is installable here; conanfile.py is read with
ast, never imported):
  - one version everywhere: version.hpp, the CMake package (sluiceConfigVersion.cmake
    and sluice.pc, both written from project(VERSION)), ports/sluice/vcpkg.json,
    conanfile.py and CHANGELOG.md's newest entry;
  - conanfile.py: package_type "header-library", package_id() clears, no lib or bin
    dirs, cmake_file_name / cmake_target_name equal to the installed config file and
    exported target, pthread and ws2_32 system libs;
  - the files conanfile.py exports (exports_sources) install exactly what the full
    checkout installs, and package() leaves a header-only package behind;
  - vcpkg.json is valid JSON with the fields a port needs; the portfile's CONFIG_PATH
    is where the config is installed; the usage snippet and test_package name the same
    package and target;
  - sluice.pc links Winsock when installed for Windows (mingw-w64 toolchain) and does
    not elsewhere.
Prints one line per check; exits 1 on the first failure.
"""
import ast
import fnmatch
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CXX = sys.argv[1] if len(sys.argv) > 1 else "c++"
MINGW_CXX = "x86_64-w64-mingw32-g++-posix"


def fail(message):
    print("FAIL: " + message)
    sys.exit(1)


def ok(message):
    print("ok: " + message)


def read(*parts):
    with open(os.path.join(ROOT, *parts), encoding="utf-8") as f:
        return f.read()


def run(cmd, **kwargs):
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **kwargs)
    if proc.returncode != 0:
        fail("command failed (%d): %s\n%s" % (proc.returncode, " ".join(cmd), proc.stdout))
    return proc.stdout


def install(source, prefix, *extra):
    """Configures `source` with the options the recipes pass and installs it to `prefix`."""
    build = prefix + "-build"
    run(["cmake", "-S", source, "-B", build, "-DCMAKE_CXX_COMPILER=" + CXX,
         "-DSLUICE_BUILD_TESTS=OFF", "-DSLUICE_BUILD_EXAMPLES=OFF", "-DSLUICE_INSTALL=ON", *extra])
    run(["cmake", "--install", build, "--prefix", prefix])
    return installed_files(prefix)


def installed_files(prefix):
    found = {}
    for base, _dirs, files in os.walk(prefix):
        for name in files:
            path = os.path.join(base, name)
            with open(path, "rb") as f:
                found[os.path.relpath(path, prefix)] = f.read()
    return found


# ---- conanfile.py, as a syntax tree ----

class Recipe:
    def __init__(self, text):
        self.tree = ast.parse(text)
        self.cls = next((n for n in self.tree.body if isinstance(n, ast.ClassDef)), None)
        if self.cls is None:
            fail("conanfile.py defines no class")
        self.attrs = {}
        for node in self.cls.body:
            if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
                try:
                    self.attrs[node.targets[0].id] = ast.literal_eval(node.value)
                except ValueError:
                    pass  # computed attributes (url = homepage) are not checked here
        self.methods = {n.name: n for n in self.cls.body if isinstance(n, ast.FunctionDef)}

    def method(self, name):
        if name not in self.methods:
            fail("conanfile.py has no %s()" % name)
        return self.methods[name]

    @staticmethod
    def calls(node, name):
        """Calls of `name(...)` or `x.name(...)` inside `node`."""
        out = []
        for n in ast.walk(node):
            if isinstance(n, ast.Call):
                f = n.func
                if (isinstance(f, ast.Name) and f.id == name) or (isinstance(f, ast.Attribute) and f.attr == name):
                    out.append(n)
        return out

    def properties(self):
        props = {}
        for call in self.calls(self.method("package_info"), "set_property"):
            key, value = (ast.literal_eval(a) for a in call.args[:2])
            props[key] = value
        return props

    def cpp_info_assignments(self):
        """cpp_info.<field> = <literal> in package_info(), field -> list of values."""
        out = {}
        for n in ast.walk(self.method("package_info")):
            if isinstance(n, ast.Assign):
                for t in n.targets:
                    if isinstance(t, ast.Attribute) and isinstance(t.value, ast.Attribute) and t.value.attr == "cpp_info":
                        out.setdefault(t.attr, []).append(ast.literal_eval(n.value))
        return out

    def function_source(self, name):
        """A module-level function with the imports it may use, to run on its own."""
        for n in self.tree.body:
            if isinstance(n, ast.FunctionDef) and n.name == name:
                return "import os\nimport re\n" + ast.unparse(n)
        return None

    def cache_variables(self):
        out = {}
        for n in ast.walk(self.method("generate")):
            if (isinstance(n, ast.Assign) and isinstance(n.targets[0], ast.Subscript)
                    and isinstance(n.targets[0].value, ast.Attribute) and n.targets[0].value.attr == "cache_variables"):
                out[ast.literal_eval(n.targets[0].slice)] = ast.literal_eval(n.value)
        return out


def package_folder_path(node):
    """The path under package_folder that os.path.join(self.package_folder, "a", "b") names."""
    if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "join"
            and node.args and isinstance(node.args[0], ast.Attribute) and node.args[0].attr == "package_folder"):
        return "/".join(ast.literal_eval(a) for a in node.args[1:])
    if isinstance(node, ast.Attribute) and node.attr == "package_folder":
        return ""
    fail("package(): cannot follow the path %s" % ast.unparse(node))


def emulate_package(recipe, installed):
    """The files package() leaves: the install, then its copy() and rmdir() calls."""
    package = dict(installed)
    body = recipe.method("package")
    if not recipe.calls(body, "install"):
        fail("package() does not run cmake.install()")
    for call in recipe.calls(body, "copy"):
        pattern = ast.literal_eval(call.args[1])
        if ast.unparse(call.args[2]) != "self.source_folder":
            fail("package(): copy() from somewhere other than self.source_folder")
        dest = package_folder_path(call.args[3])
        for name in os.listdir(ROOT):
            if fnmatch.fnmatch(name, pattern) and os.path.isfile(os.path.join(ROOT, name)):
                with open(os.path.join(ROOT, name), "rb") as f:
                    package[(dest + "/" if dest else "") + name] = f.read()
    for call in recipe.calls(body, "rmdir"):
        gone = package_folder_path(call.args[1])
        package = {p: c for p, c in package.items() if not (p == gone or p.startswith(gone + "/"))}
    return package


def main():
    work = tempfile.mkdtemp(prefix="sluice-check-packages-")
    try:
        check(work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print("all package checks passed")


def check(work):
    header = read("include", "sluice", "version.hpp")
    m = re.search(r'^#define SLUICE_VERSION_STRING "([0-9]+\.[0-9]+\.[0-9]+)"', header, re.M)
    if not m:
        fail("no SLUICE_VERSION_STRING in version.hpp")
    version = m.group(1)
    parts = [re.search(r"^#define SLUICE_VERSION_%s (\d+)" % p, header, re.M) for p in ("MAJOR", "MINOR", "PATCH")]
    if None in parts or ".".join(p.group(1) for p in parts) != version:
        fail("version.hpp: MAJOR/MINOR/PATCH do not spell %s" % version)
    ok("version.hpp says %s" % version)

    # What the checkout installs.
    installed = install(ROOT, os.path.join(work, "full"))
    config_version = installed["share/cmake/sluice/sluiceConfigVersion.cmake"].decode()
    m = re.search(r'set\(PACKAGE_VERSION "([^"]+)"\)', config_version)
    if not m or m.group(1) != version:
        fail("CMake package version %s != %s" % (m and m.group(1), version))
    pc = installed["share/pkgconfig/sluice.pc"].decode()
    m = re.search(r"^Version: (.+)$", pc, re.M)
    if not m or m.group(1) != version:
        fail("sluice.pc Version %s != %s" % (m and m.group(1), version))
    ok("CMake project version (sluiceConfigVersion.cmake, sluice.pc) is %s" % version)

    configs = [p for p in installed if p.endswith("Config.cmake")]
    if len(configs) != 1:
        fail("expected one *Config.cmake in the install, got %s" % configs)
    config_dir = os.path.dirname(configs[0])
    file_name = os.path.basename(configs[0])[: -len("Config.cmake")]
    targets = re.findall(r"^add_library\((\S+) INTERFACE IMPORTED\)",
                         installed[config_dir + "/sluiceTargets.cmake"].decode(), re.M)
    if targets != ["sluice::sluice"]:
        fail("the install exports %s, expected exactly sluice::sluice" % targets)
    target = targets[0]
    ok("the install exports %s from %s/%sConfig.cmake" % (target, config_dir, file_name))

    # vcpkg.json
    try:
        manifest = json.loads(read("ports", "sluice", "vcpkg.json"))
    except json.JSONDecodeError as e:
        fail("ports/sluice/vcpkg.json is not valid JSON: %s" % e)
    for field in ("name", "version", "description", "homepage", "license", "dependencies"):
        if not manifest.get(field):
            fail("vcpkg.json lacks %s" % field)
    if manifest["name"] != "sluice":
        fail("vcpkg.json name %s is not the port folder's name sluice" % manifest["name"])
    if manifest["version"] != version:
        fail("vcpkg.json version %s != %s" % (manifest["version"], version))
    if manifest["license"] != "BSL-1.0":
        fail("vcpkg.json license %s != BSL-1.0" % manifest["license"])
    host_deps = {d["name"] for d in manifest["dependencies"] if isinstance(d, dict) and d.get("host") is True}
    if not {"vcpkg-cmake", "vcpkg-cmake-config"} <= host_deps:
        fail("vcpkg.json needs vcpkg-cmake and vcpkg-cmake-config as host dependencies, has %s" % host_deps)
    ok("vcpkg.json is valid, version %s, license BSL-1.0, host deps %s" % (version, sorted(host_deps)))

    portfile = read("ports", "sluice", "portfile.cmake")
    m = re.search(r"vcpkg_cmake_config_fixup\(CONFIG_PATH (\S+?)\)", portfile)
    if not m or m.group(1) != config_dir:
        fail("portfile CONFIG_PATH %s is not where the config is installed (%s)" % (m and m.group(1), config_dir))
    for option in ("-DSLUICE_BUILD_TESTS=OFF", "-DSLUICE_BUILD_EXAMPLES=OFF", "-DSLUICE_INSTALL=ON"):
        if option not in portfile:
            fail("portfile.cmake does not pass %s" % option)
    for call in ("vcpkg_cmake_install()", "vcpkg_fixup_pkgconfig()", 'vcpkg_install_copyright(FILE_LIST "${SOURCE_PATH}/LICENSE")'):
        if call not in portfile:
            fail("portfile.cmake lacks %s" % call)
    ok("portfile CONFIG_PATH %s matches the install" % config_dir)

    usage = read("ports", "sluice", "usage")
    for snippet in (("find_package(%s CONFIG REQUIRED)" % file_name), ("PRIVATE %s)" % target)):
        if snippet not in usage:
            fail("ports/sluice/usage lacks %s" % snippet)
    test_cmake = read("test_package", "CMakeLists.txt")
    for snippet in (("find_package(%s CONFIG REQUIRED)" % file_name), ("PRIVATE %s)" % target)):
        if snippet not in test_cmake:
            fail("test_package/CMakeLists.txt lacks %s" % snippet)
    ok("usage and test_package use find_package(%s) and %s" % (file_name, target))

    # conanfile.py
    recipe = Recipe(read("conanfile.py"))
    if recipe.attrs.get("name") != "sluice":
        fail("conanfile.py name is %s" % recipe.attrs.get("name"))
    if recipe.attrs.get("package_type") != "header-library":
        fail("conanfile.py package_type is %s, not header-library" % recipe.attrs.get("package_type"))
    if recipe.attrs.get("license") != manifest["license"]:
        fail("conanfile.py license %s != vcpkg.json's %s" % (recipe.attrs.get("license"), manifest["license"]))
    if "version" in recipe.attrs:
        conan_version = recipe.attrs["version"]
    else:
        source = recipe.function_source("version_from_header")
        set_version = ast.unparse(recipe.method("set_version"))
        if source is None or "version_from_header" not in set_version or "version.hpp" not in set_version:
            fail("conanfile.py neither fixes version nor reads it from version.hpp in set_version()")
        scope = {}
        exec(compile(source, "conanfile.py:version_from_header", "exec"), scope)
        conan_version = scope["version_from_header"](header)
    if conan_version != version:
        fail("conanfile.py version %s != %s" % (conan_version, version))
    ok("conanfile.py: header-library, version %s" % conan_version)

    if "info.clear()" not in ast.unparse(recipe.method("package_id")):
        fail("package_id() does not call self.info.clear()")
    props = recipe.properties()
    if props.get("cmake_file_name") != file_name:
        fail("cmake_file_name %s != installed %sConfig.cmake" % (props.get("cmake_file_name"), file_name))
    if props.get("cmake_target_name") != target:
        fail("cmake_target_name %s != exported %s" % (props.get("cmake_target_name"), target))
    if props.get("pkg_config_name") != "sluice":
        fail("pkg_config_name %s != sluice (the installed sluice.pc)" % props.get("pkg_config_name"))
    fields = recipe.cpp_info_assignments()
    if fields.get("bindirs") != [[]] or fields.get("libdirs") != [[]]:
        fail("package_info() must set bindirs = [] and libdirs = [] (got %s, %s)" % (fields.get("bindirs"), fields.get("libdirs")))
    system_libs = {lib for value in fields.get("system_libs", []) for lib in value}
    if not {"pthread", "ws2_32"} <= system_libs:
        fail("package_info() system_libs %s lack pthread or ws2_32" % sorted(system_libs))
    ok("conanfile.py: cmake_file_name %s, cmake_target_name %s, system_libs %s, package_id cleared"
       % (file_name, target, sorted(system_libs)))

    # Conan builds from the exported sources only: they must install the same files.
    patterns = recipe.attrs.get("exports_sources")
    if isinstance(patterns, str):
        patterns = (patterns,)
    exported = os.path.join(work, "exported")
    count = 0
    for base, dirs, files in os.walk(ROOT):
        dirs[:] = [d for d in dirs if d not in (".git", "build")]
        for name in files:
            rel = os.path.relpath(os.path.join(base, name), ROOT)
            if any(fnmatch.fnmatch(rel, p) for p in patterns):
                os.makedirs(os.path.dirname(os.path.join(exported, rel)), exist_ok=True)
                shutil.copy2(os.path.join(ROOT, rel), os.path.join(exported, rel))
                count += 1
    options = ["-D%s=%s" % (k, "ON" if v is True else "OFF" if v is False else v)
               for k, v in recipe.cache_variables().items()]
    from_export = install(exported, os.path.join(work, "from-export"), *options)
    if set(from_export) != set(installed):
        fail("exports_sources install %s, the checkout %s" % (sorted(from_export), sorted(installed)))
    differing = [p for p in installed if from_export[p] != installed[p]]
    if differing:
        fail("exports_sources install different contents for %s" % differing)
    ok("exports_sources (%d files) install the same %d files as the checkout: %s"
       % (count, len(installed), ", ".join(sorted(installed))))

    package = emulate_package(recipe, from_export)
    if package.get("include/sluice.hpp") != installed["include/sluice.hpp"]:
        fail("package() leaves no include/sluice.hpp")
    with open(os.path.join(ROOT, "single_include", "sluice.hpp"), "rb") as f:
        if package["include/sluice.hpp"] != f.read():
            fail("the packaged include/sluice.hpp is not single_include/sluice.hpp")
    if "licenses/LICENSE" not in package:
        fail("package() leaves no licenses/LICENSE")
    stray = [p for p in package if not (p.startswith("include/") or p.startswith("licenses/"))]
    if stray:
        fail("a header-library package (no lib, no bin) holds %s" % stray)
    ok("package() leaves %s" % ", ".join(sorted(package)))

    # CHANGELOG.md
    changelog = read("CHANGELOG.md")
    entries = re.findall(r"^## \[([^\]]+)\](.*)$", changelog, re.M)
    released = [(v, rest) for v, rest in entries if v.lower() != "unreleased"]
    if not released:
        fail("CHANGELOG.md has no released entry")
    newest, rest = released[0]
    if newest != version:
        fail("CHANGELOG.md's newest entry is %s, version.hpp says %s" % (newest, version))
    if not re.match(r"^ - \d{4}-\d{2}-\d{2}$", rest):
        fail("CHANGELOG.md entry %s has no ' - YYYY-MM-DD' date" % newest)
    if not re.search(r"^\[%s\]: \S+" % re.escape(version), changelog, re.M):
        fail("CHANGELOG.md has no link reference for [%s]" % version)
    ok("CHANGELOG.md's newest entry is [%s]%s" % (newest, rest))

    # Winsock in the .pc, decided by the platform being installed for.
    if "ws2_32" in re.search(r"^Libs:(.*)$", pc, re.M).group(1):
        fail("the native sluice.pc links ws2_32")
    if shutil.which(MINGW_CXX) is None:
        run(["bash", "-c", "export DEBIAN_FRONTEND=noninteractive; apt-get install -y -qq g++-mingw-w64-x86-64-posix >/dev/null"])
    windows = os.path.join(work, "windows")
    build = windows + "-build"
    run(["cmake", "-S", ROOT, "-B", build, "-DCMAKE_TOOLCHAIN_FILE=" + os.path.join(ROOT, "cmake", "toolchain-mingw-w64.cmake"),
         "-DSLUICE_BUILD_TESTS=OFF", "-DSLUICE_BUILD_EXAMPLES=OFF", "-DSLUICE_INSTALL=ON"])
    run(["cmake", "--install", build, "--prefix", windows])
    with open(os.path.join(windows, "share", "pkgconfig", "sluice.pc"), encoding="utf-8") as f:
        libs = re.search(r"^Libs:(.*)$", f.read(), re.M).group(1).split()
    if "-lws2_32" not in libs:
        fail("sluice.pc installed for Windows has Libs %s, without -lws2_32" % libs)
    ok("sluice.pc Libs: native %s, Windows %s" % (re.search(r"^Libs:(.*)$", pc, re.M).group(1).strip(), " ".join(libs)))


if __name__ == "__main__":
    main()
