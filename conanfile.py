# Conan 2 recipe: `conan create .` packages the checkout, test_package/ checks it.
import os
import re

from conan import ConanFile
from conan.tools.cmake import CMake, CMakeToolchain, cmake_layout
from conan.tools.files import copy, load, rmdir

required_conan_version = ">=2.0"


def version_from_header(text):
    """The version is written down once, in include/sluice/version.hpp."""
    match = re.search(r'^#define SLUICE_VERSION_STRING "([0-9]+\.[0-9]+\.[0-9]+)"', text, re.M)
    if not match:
        raise ValueError("no SLUICE_VERSION_STRING in include/sluice/version.hpp")
    return match.group(1)


class SluiceConan(ConanFile):
    name = "sluice"
    description = ("Single-header, dependency-free C++17 async I/O: event loop, TCP/UDP/Unix, "
                   "timers, coroutines, HTTP/1.1 and WebSocket")
    license = "BSL-1.0"
    homepage = "https://example.invalid/sluice"
    url = homepage
    topics = ("async", "networking", "event-loop", "http", "websocket", "header-only")
    package_type = "header-library"
    # Settings only drive the CMake run that installs the header; package_id() drops
    # them, so every configuration shares one package.
    settings = "os", "arch", "compiler", "build_type"
    # What the install rules read: the header users get, the version, the templates.
    exports_sources = ("CMakeLists.txt", "cmake/*.in", "include/*", "single_include/*", "LICENSE")
    no_copy_source = True

    def set_version(self):
        self.version = self.version or version_from_header(
            load(self, os.path.join(self.recipe_folder, "include", "sluice", "version.hpp")))

    def layout(self):
        cmake_layout(self)

    def package_id(self):
        self.info.clear()

    def generate(self):
        toolchain = CMakeToolchain(self)
        toolchain.cache_variables["SLUICE_BUILD_TESTS"] = False
        toolchain.cache_variables["SLUICE_BUILD_EXAMPLES"] = False
        toolchain.cache_variables["SLUICE_INSTALL"] = True
        toolchain.generate()

    def build(self):
        pass  # nothing to compile

    def package(self):
        # sluice's own install rules place the header, so the package and a plain
        # `cmake --install` cannot drift apart.
        cmake = CMake(self)
        cmake.configure()
        cmake.install()
        copy(self, "LICENSE", self.source_folder, os.path.join(self.package_folder, "licenses"))
        # CMakeDeps and PkgConfigDeps write the consumer files from package_info();
        # the installed share/cmake, share/pkgconfig and share/doc would only shadow them.
        rmdir(self, os.path.join(self.package_folder, "share"))

    def package_info(self):
        self.cpp_info.set_property("cmake_file_name", "sluice")
        self.cpp_info.set_property("cmake_target_name", "sluice::sluice")
        self.cpp_info.set_property("pkg_config_name", "sluice")
        self.cpp_info.bindirs = []
        self.cpp_info.libdirs = []
        if self.settings.os in ("Linux", "FreeBSD"):
            self.cpp_info.system_libs = ["pthread"]
        elif self.settings.os == "Windows":
            self.cpp_info.system_libs = ["ws2_32"]
