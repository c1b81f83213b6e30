// SPDX-License-Identifier: MIT
// The raw liburing baselines, in a translation unit of their own: it does not import ringbahn,
// so liburing's static inline helpers (io_uring_for_each_cqe's barrier templates included)
// are used exactly as a C++ program without ringbahn would use them.
#include <liburing.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "bench_common.hpp"
#include "raw.hpp"

namespace bench {

constexpr std::uint32_t ring_flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN;

// The raw baseline gets the same ring setup as LocalDriver: CQ 16 × the SQ, same flags.
static void raw_init(io_uring& ring) {
    io_uring_params p{};
    p.flags = ring_flags | IORING_SETUP_CQSIZE;
    p.cq_entries = ring_entries * 16;
    if (io_uring_queue_init_params(ring_entries, &ring, &p) != 0) {
        std::perror("io_uring_queue_init_params");
        std::exit(1);
    }
}

double raw_nop(unsigned qd, long ops) {
    io_uring ring;
    raw_init(ring);
    const double t0 = now_seconds();
    long issued = 0, done = 0;
    for (; issued < qd && issued < ops; ++issued) io_uring_prep_nop(io_uring_get_sqe(&ring));
    while (done < ops) {
        io_uring_submit_and_wait(&ring, 1);
        unsigned head, n = 0;
        io_uring_cqe* cqe;
        io_uring_for_each_cqe(&ring, head, cqe) { ++n; }
        io_uring_cq_advance(&ring, n);
        done += n;
        for (unsigned i = 0; i < n && issued < ops; ++i, ++issued)
            io_uring_prep_nop(io_uring_get_sqe(&ring));
    }
    const double secs = now_seconds() - t0;
    io_uring_queue_exit(&ring);
    return double(ops) / secs;
}

double raw_read(const ReadFile& f, unsigned qd, bool registered) {
    io_uring ring;
    raw_init(ring);
    void* mem = nullptr;
    if (posix_memalign(&mem, 4096, qd * block) != 0) std::exit(1);
    auto* bufs = static_cast<char*>(mem);
    if (registered) {
        std::vector<iovec> iov(qd);
        for (unsigned i = 0; i < qd; ++i) iov[i] = {bufs + i * block, block};
        if (io_uring_register_buffers(&ring, iov.data(), qd) != 0) std::exit(1);
    }
    const long ops = long(f.offsets.size());
    long issued = 0, done = 0;
    auto issue = [&](unsigned slot) {
        io_uring_sqe* sqe = io_uring_get_sqe(&ring);
        char* buf = bufs + slot * block;
        if (registered)
            io_uring_prep_read_fixed(sqe, f.fd, buf, block, f.offsets[issued], int(slot));
        else
            io_uring_prep_read(sqe, f.fd, buf, block, f.offsets[issued]);
        sqe->user_data = slot;
        ++issued;
    };
    const double t0 = now_seconds();
    for (unsigned s = 0; s < qd && issued < ops; ++s) issue(s);
    while (done < ops) {
        io_uring_submit_and_wait(&ring, 1);
        unsigned head, n = 0;
        io_uring_cqe* cqe;
        unsigned slots[2 * ring_entries];
        io_uring_for_each_cqe(&ring, head, cqe) {
            if (cqe->res != int(block)) std::exit(2);
            slots[n++] = unsigned(cqe->user_data);
        }
        io_uring_cq_advance(&ring, n);
        done += n;
        for (unsigned i = 0; i < n && issued < ops; ++i) issue(slots[i]);
    }
    const double secs = now_seconds() - t0;
    io_uring_queue_exit(&ring);
    std::free(mem);
    return double(ops) / secs;
}

// --- the raw liburing server: accept, then recv → send → recv per connection --------------

void raw_echo_server(int listen_fd, int connections) {
    io_uring ring;
    raw_init(ring);
    struct Conn {
        int fd = -1;
        char buf[echo_buffer];
        unsigned len = 0, sent = 0;
    };
    std::vector<Conn> conns(connections);
    enum : std::uint64_t { op_accept = 0, op_recv = 1, op_send = 2 };
    auto ud = [](std::uint64_t op, std::uint64_t i) { return op | (i << 2); };
    auto recv = [&](int i) {
        io_uring_sqe* sqe = io_uring_get_sqe(&ring);
        io_uring_prep_recv(sqe, conns[i].fd, conns[i].buf, echo_buffer, 0);
        sqe->user_data = ud(op_recv, i);
    };
    auto send = [&](int i) {
        io_uring_sqe* sqe = io_uring_get_sqe(&ring);
        Conn& c = conns[i];
        io_uring_prep_send(sqe, c.fd, c.buf + c.sent, c.len - c.sent, MSG_NOSIGNAL);
        sqe->user_data = ud(op_send, i);
    };
    int accepted = 0, open = 0;
    io_uring_sqe* first = io_uring_get_sqe(&ring);
    io_uring_prep_accept(first, listen_fd, nullptr, nullptr, 0);
    first->user_data = ud(op_accept, 0);
    while (accepted < connections || open > 0) {
        io_uring_submit_and_wait(&ring, 1);
        unsigned head, n = 0;
        io_uring_cqe* cqe;
        io_uring_for_each_cqe(&ring, head, cqe) {
            ++n;
            const int i = int(cqe->user_data >> 2);
            switch (cqe->user_data & 3) {
            case op_accept:
                if (cqe->res >= 0) {
                    conns[accepted].fd = cqe->res;
                    const int one = 1;
                    setsockopt(cqe->res, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                    recv(accepted++);
                    ++open;
                }
                if (accepted < connections) {
                    io_uring_sqe* sqe = io_uring_get_sqe(&ring);
                    io_uring_prep_accept(sqe, listen_fd, nullptr, nullptr, 0);
                    sqe->user_data = ud(op_accept, 0);
                }
                break;
            case op_recv:
                if (cqe->res <= 0) {
                    close(conns[i].fd);
                    --open;
                } else {
                    conns[i].len = unsigned(cqe->res);
                    conns[i].sent = 0;
                    send(i);
                }
                break;
            case op_send:
                if (cqe->res <= 0) {
                    close(conns[i].fd);
                    --open;
                } else if ((conns[i].sent += unsigned(cqe->res)) < conns[i].len) {
                    send(i);
                } else {
                    recv(i);
                }
                break;
            }
        }
        io_uring_cq_advance(&ring, n);
    }
    io_uring_queue_exit(&ring);
}

} // namespace bench
