// SHA-1 (RFC 3174), base64 (RFC 4648 §10) and the incremental UTF-8 validator.
#include <doctest/doctest.h>

#include <sluice/util/base64.hpp>
#include <sluice/util/sha1.hpp>
#include <sluice/util/utf8.hpp>

#include <cstdint>
#include <random>
#include <string>
#include <vector>

using namespace sluice::util;

namespace {
std::string hex(const std::uint8_t* p, std::size_t n) {
    static const char* d = "0123456789abcdef";
    std::string s;
    for (std::size_t i = 0; i < n; ++i) {
        s += d[p[i] >> 4];
        s += d[p[i] & 15];
    }
    return s;
}
std::string sha1_hex(const std::string& s) {
    auto dg = sha1::hash(s);
    return hex(dg.data(), dg.size());
}
std::string bytes(std::initializer_list<int> l) {
    std::string s;
    for (int b : l) s += static_cast<char>(b);
    return s;
}
} // namespace

TEST_CASE("sha1: RFC 3174 test vectors") {
    CHECK(sha1_hex("abc") == "a9993e364706816aba3e25717850c26c9cd0d89d");
    CHECK(sha1_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq") ==
          "84983e441c3bd26ebaae4aa1f95129e5e54670f1");
    CHECK(sha1_hex(std::string(1000000, 'a')) == "34aa973cd4c4daa4f61eeb2bdbad27316534016f");
    std::string rep;
    for (int i = 0; i < 80; ++i) rep += "01234567";
    CHECK(sha1_hex(rep) == "dea356a2cddd90c7a7ecedc5ebb563934f460452");
    CHECK(sha1_hex("") == "da39a3ee5e6b4b0d3255bfef95601890afd80709");
}

TEST_CASE("sha1: incremental updates at every split equal one-shot") {
    std::string msg;
    for (int i = 0; i < 200; ++i) msg += static_cast<char>(i * 7 + 3);
    const std::string want = sha1_hex(msg);
    for (std::size_t cut = 0; cut <= msg.size(); ++cut) {
        sha1 s;
        s.update(msg.data(), cut);
        s.update(msg.data() + cut, msg.size() - cut);
        auto d = s.finish();
        REQUIRE(hex(d.data(), d.size()) == want);
    }
    // Lengths around the 55/56/64-byte padding boundaries, fed byte by byte.
    for (std::size_t len : {55u, 56u, 57u, 63u, 64u, 65u, 119u, 120u}) {
        std::string m(len, 'x');
        sha1 s;
        for (char c : m) s.update(&c, 1);
        auto d = s.finish();
        CHECK(hex(d.data(), d.size()) == sha1_hex(m));
    }
}

TEST_CASE("base64: RFC 4648 §10 vectors, encode and decode") {
    const char* v[][2] = {{"", ""},
                          {"f", "Zg=="},
                          {"fo", "Zm8="},
                          {"foo", "Zm9v"},
                          {"foob", "Zm9vYg=="},
                          {"fooba", "Zm9vYmE="},
                          {"foobar", "Zm9vYmFy"}};
    for (auto& p : v) {
        CHECK(base64_encode(p[0]) == p[1]);
        std::string out;
        CHECK(base64_decode(p[1], out));
        CHECK(out == p[0]);
    }
    std::string all;
    for (int i = 0; i < 256; ++i) all += static_cast<char>(i);
    std::string back;
    CHECK(base64_decode(base64_encode(all), back));
    CHECK(back == all);
}

TEST_CASE("base64: strict decode rejects non-canonical input") {
    const char* bad[] = {
        "Zg",   "Zg=",      "Z===", "====",  "Zh==",     "Zm9=",    "Zm 9v",   "Zm9v\n", "=Zm9",
        "Zm=v", "Zg==Zg==", "-_==", "Zm9vY", "Zm9v====", "Zm9vYmF", "Zm9\x80", "Zg=a"};
    for (const char* b : bad) {
        std::string out = "junk";
        CHECK_MESSAGE(!base64_decode(b, out), b);
        CHECK(out.empty());
    }
}

namespace {
// Reference decoder written independently of the validator (decode, then range-check).
bool ref_valid(const std::string& s) {
    std::size_t i = 0;
    while (i < s.size()) {
        const unsigned b = static_cast<unsigned char>(s[i]);
        unsigned len, cp;
        if (b < 0x80) {
            ++i;
            continue;
        }
        if ((b & 0xE0) == 0xC0) {
            len = 2;
            cp = b & 0x1F;
        } else if ((b & 0xF0) == 0xE0) {
            len = 3;
            cp = b & 0x0F;
        } else if ((b & 0xF8) == 0xF0) {
            len = 4;
            cp = b & 0x07;
        } else
            return false;
        if (i + len > s.size()) return false;
        for (unsigned k = 1; k < len; ++k) {
            const unsigned c = static_cast<unsigned char>(s[i + k]);
            if ((c & 0xC0) != 0x80) return false;
            cp = (cp << 6) | (c & 0x3F);
        }
        const unsigned min[] = {0, 0, 0x80, 0x800, 0x10000};
        if (cp < min[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
        i += len;
    }
    return true;
}

// Index of the first byte at which byte-wise feeding fails, or -1.
int fail_index(const std::string& s) {
    utf8_validator v;
    for (std::size_t i = 0; i < s.size(); ++i)
        if (!v.feed(&s[i], 1)) return static_cast<int>(i);
    return -1;
}

void check_all_splits(const std::string& s, bool want) {
    CHECK(is_valid_utf8(s) == want);
    for (std::size_t cut = 0; cut <= s.size(); ++cut) {
        utf8_validator v;
        bool ok = v.feed(s.data(), cut);
        ok = v.feed(s.data() + cut, s.size() - cut) && ok;
        REQUIRE_MESSAGE((ok && v.complete()) == want, "cut " << cut);
    }
    utf8_validator v;
    bool ok = true;
    for (char c : s) ok = v.feed(&c, 1) && ok;
    CHECK((ok && v.complete()) == want);
}
} // namespace

TEST_CASE("utf8: valid vectors, whole, split at every boundary, byte by byte") {
    const std::string valid[] = {
        "",
        "hello, world",
        bytes({0xCE, 0xBA, 0xE1, 0xBD, 0xB9, 0xCF, 0x83, 0xCE, 0xBC, 0xCE, 0xB5}), // κόσμε
        bytes({0xC2, 0x80}),                                                       // U+0080
        bytes({0xDF, 0xBF}),                                                       // U+07FF
        bytes({0xE0, 0xA0, 0x80}),                                                 // U+0800
        bytes({0xED, 0x9F, 0xBF}),                                                 // U+D7FF
        bytes({0xEE, 0x80, 0x80}),                                                 // U+E000
        bytes({0xEF, 0xBF, 0xBD}),                                                 // U+FFFD
        bytes({0xEF, 0xBF, 0xBE}),                                                 // U+FFFE
        bytes({0xEF, 0xBF, 0xBF}),                                                 // U+FFFF
        bytes({0xF0, 0x90, 0x80, 0x80}),                                           // U+10000
        bytes({0xF0, 0x9F, 0x98, 0x80}),                                           // U+1F600
        bytes({0xF4, 0x8F, 0xBF, 0xBF}),                                           // U+10FFFF
        std::string(37, 'a') + bytes({0xF0, 0x9F, 0x98, 0x80}) + std::string(21, 'b'),
    };
    for (const auto& s : valid) check_all_splits(s, true);
}

TEST_CASE("utf8: invalid vectors fail, including at the first impossible byte") {
    struct bad_case {
        std::string s;
        int first_bad; // byte index at which the stream becomes impossible; -1 = truncated
    };
    const bad_case bad[] = {
        {bytes({0x80}), 0}, // stray continuation
        {bytes({0xBF}), 0},
        {bytes({0xC0, 0x80}), 0},       // overlong NUL
        {bytes({0xC1, 0xBF}), 0},       // overlong
        {bytes({0xE0, 0x80, 0x80}), 1}, // overlong 3-byte
        {bytes({0xE0, 0x9F, 0xBF}), 1},
        {bytes({0xF0, 0x80, 0x80, 0x80}), 1}, // overlong 4-byte
        {bytes({0xF0, 0x8F, 0xBF, 0xBF}), 1},
        {bytes({0xED, 0xA0, 0x80}), 1},                   // U+D800
        {bytes({0xED, 0xBF, 0xBF}), 1},                   // U+DFFF
        {bytes({0xED, 0xA0, 0x80, 0xED, 0xB0, 0x80}), 1}, // paired surrogates
        {bytes({0xF4, 0x90, 0x80, 0x80}), 1},             // U+110000
        {bytes({0xF5, 0x80, 0x80, 0x80}), 0},
        {bytes({0xF7, 0xBF, 0xBF, 0xBF}), 0},
        {bytes({0xF8, 0x88, 0x80, 0x80, 0x80}), 0},       // 5-byte form
        {bytes({0xFC, 0x84, 0x80, 0x80, 0x80, 0x80}), 0}, // 6-byte form
        {bytes({0xFE}), 0},
        {bytes({0xFF}), 0},
        {bytes({0xC2}), -1}, // truncated
        {bytes({0xE2, 0x82}), -1},
        {bytes({0xF0, 0x9F, 0x98}), -1},
        {bytes({0xC2, 0x41}), 1}, // continuation missing mid-stream
        {bytes({0xE2, 0x82, 0x41}), 2},
        {bytes({0xCE, 0xBA, 0xE1, 0xBD, 0xB9, 0xCF, 0x83, 0xCE, 0xBC, 0xCE,
                0xB5, 0xED, 0xA0, 0x80, 0x65, 0x64, 0x69, 0x74, 0x65, 0x64}),
         12},
    };
    for (const auto& b : bad) {
        check_all_splits(b.s, false);
        CHECK(fail_index(b.s) == b.first_bad);
    }
}

TEST_CASE("utf8: a bad byte anywhere in ASCII runs (fast path) is caught at its index") {
    for (std::size_t len = 1; len < 40; ++len)
        for (std::size_t pos = 0; pos < len; ++pos) {
            std::string s(len, 'q');
            s[pos] = static_cast<char>(0xFF);
            REQUIRE(!is_valid_utf8(s));
            REQUIRE(fail_index(s) == static_cast<int>(pos));
        }
}

TEST_CASE("utf8: matches a reference decoder on every 1- and 2-byte string and random ones") {
    for (int a = 0; a < 256; ++a) {
        std::string s1(1, static_cast<char>(a));
        REQUIRE(is_valid_utf8(s1) == ref_valid(s1));
        for (int b = 0; b < 256; ++b) {
            std::string s2 = s1 + static_cast<char>(b);
            REQUIRE(is_valid_utf8(s2) == ref_valid(s2));
        }
    }
    std::mt19937 rng(12345);
    const int pool[] = {0x00, 0x41, 0x7F, 0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF,
                        0xC0, 0xC1, 0xC2, 0xDF, 0xE0, 0xE1, 0xEC, 0xED, 0xEE,
                        0xEF, 0xF0, 0xF1, 0xF3, 0xF4, 0xF5, 0xF8, 0xFE, 0xFF};
    for (int iter = 0; iter < 100000; ++iter) {
        std::string s(1 + rng() % 12, '\0');
        for (auto& c : s) c = static_cast<char>(pool[rng() % (sizeof pool / sizeof pool[0])]);
        REQUIRE(is_valid_utf8(s) == ref_valid(s));
    }
}
