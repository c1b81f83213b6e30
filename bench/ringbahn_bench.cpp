// SPDX-License-Identifier: MIT
// ringbahn.bench — raw liburing and ringbahn side by side in one run; prints the ratio table.
// Usage: ringbahn.bench [nop] [read] [echo] [provided] [send_zc] [--quick] [--tsv FILE] [--file PATH]
// Nothing selected: all of them. Ratios are ringbahn relative to raw liburing (≥ 1: as good or
// better), the median of per-round ratios from interleaved rounds.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "bench_common.hpp"
#include "nop_read_bench.hpp"
#include "echo_bench.hpp"
#include "features_bench.hpp"

import ringbahn;

using namespace bench;

// One side of one benchmark, nothing else: what bench/callgrind counts instructions of.
static int single(std::string_view what, std::string_view side, long ops) {
    const bool raw = side == "raw";
    if (what == "nop") {
        raw ? raw_nop(32, ops) : ringbahn_nop(32, ops);
        return 0;
    }
    if (what == "read" || what == "read-pooled" || what == "read-registered") {
        using namespace ringbahn;
        auto f = make_read_file("/tmp/ringbahn-bench-small.data", 16ull << 20, std::size_t(ops));
        if (raw) {
            raw_read(f, 32, what == "read-registered");
        } else if (what == "read") {
            ringbahn_read(f, 32, [](drivers::LocalDriver&, unsigned) { return policies::Heap<block>{}; });
        } else if (what == "read-pooled") {
            ringbahn_read(f, 32, [](drivers::LocalDriver&, unsigned qd) {
                return policies::Pooled{BufferPool::create(std::uint16_t(qd), block, WhenEmpty::wait).value()};
            });
        } else {
            ringbahn_read(f, 32, [](drivers::LocalDriver& d, unsigned qd) {
                return policies::Registered::create(d, std::uint16_t(qd), block, WhenEmpty::wait).value();
            });
        }
        ::close(f.fd);
        return 0;
    }
    return 2;
}

int main(int argc, char** argv) {
    if (argc == 5 && std::string_view(argv[1]) == "--single")
        return single(argv[2], argv[3], std::atol(argv[4]));
    bool quick = false, want_nop = false, want_read = false, want_echo = false, want_provided = false,
         want_zc = false;
    const char* tsv = nullptr;
    const char* file = "/tmp/ringbahn-bench.data";
    for (int i = 1; i < argc; ++i) {
        const std::string_view a = argv[i];
        if (a == "--quick") quick = true;
        else if (a == "--tsv" && i + 1 < argc) tsv = argv[++i];
        else if (a == "--file" && i + 1 < argc) file = argv[++i];
        else if (a == "nop") want_nop = true;
        else if (a == "read") want_read = true;
        else if (a == "echo") want_echo = true;
        else if (a == "provided") want_provided = true;
        else if (a == "send_zc") want_zc = true;
        else {
            std::fprintf(stderr, "usage: %s [nop] [read] [echo] [provided] [send_zc] [--quick] [--tsv FILE] [--file PATH]\n", argv[0]);
            return 2;
        }
    }
    if (!want_nop && !want_read && !want_echo && !want_provided && !want_zc)
        want_nop = want_read = want_echo = want_provided = want_zc = true;
    const int rounds = quick ? 1 : 5;
    std::vector<Row> rows;

    if (want_nop) {
        pin_to(1);
        const long ops = quick ? 100'000 : 2'000'000;
        for (unsigned qd : {1u, 32u, 128u}) {
            const long n = qd == 1 ? ops / 4 : ops;
            rows.push_back(compare("nop qd=" + std::to_string(qd), "ops/s", true, rounds,
                                   [&] { return raw_nop(qd, n); }, [&] { return ringbahn_nop(qd, n); }));
        }
    }
    if (want_read) {
        pin_to(1);
        const std::uint64_t bytes = quick ? (64ull << 20) : (1ull << 30);
        auto f = make_read_file(file, bytes, quick ? 50'000 : 500'000);
        using namespace ringbahn;
        auto heap = [](drivers::LocalDriver&, unsigned) { return policies::Heap<block>{}; };
        auto pooled = [](drivers::LocalDriver&, unsigned qd) {
            return policies::Pooled{BufferPool::create(std::uint16_t(qd), block, WhenEmpty::wait).value()};
        };
        auto registered = [](drivers::LocalDriver& d, unsigned qd) {
            return policies::Registered::create(d, std::uint16_t(qd), block, WhenEmpty::wait).value();
        };
        for (unsigned qd : {32u, 128u}) {
            const std::string q = " qd=" + std::to_string(qd);
            rows.push_back(compare("read 4K heap vs raw" + q, "ops/s", true, rounds,
                                   [&] { return raw_read(f, qd, false); },
                                   [&] { return ringbahn_read(f, qd, heap); }));
            rows.push_back(compare("read 4K pooled vs raw" + q, "ops/s", true, rounds,
                                   [&] { return raw_read(f, qd, false); },
                                   [&] { return ringbahn_read(f, qd, pooled); }));
            rows.push_back(compare("read 4K registered vs raw registered" + q, "ops/s", true, rounds,
                                   [&] { return raw_read(f, qd, true); },
                                   [&] { return ringbahn_read(f, qd, registered); }));
        }
        ::close(f.fd);
    }
    if (want_echo) {
        for (std::size_t size : {std::size_t{64}, std::size_t{4096}}) {
            auto r = echo_rows(size, quick);
            rows.insert(rows.end(), r.begin(), r.end());
        }
    }

    if (want_provided) {
        auto r = provided_rows(quick);
        rows.insert(rows.end(), r.begin(), r.end());
    }
    if (want_zc) {
        auto r = send_zc_rows(quick);
        rows.insert(rows.end(), r.begin(), r.end());
    }

    if (tsv) {
        if (std::FILE* out = std::fopen(tsv, "w")) {
            std::fprintf(out, "case\tunit\traw\tringbahn\tratio\n");
            for (const auto& r : rows)
                std::fprintf(out, "%s\t%s\t%.3f\t%.3f\t%.4f\n", r.name.c_str(), r.unit.c_str(),
                             r.raw, r.ours, r.ratio);
            std::fclose(out);
        }
    }
    return 0;
}
