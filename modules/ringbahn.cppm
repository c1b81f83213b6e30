// SPDX-License-Identifier: MIT
// ringbahn — the primary module interface: `import ringbahn;` gives the whole public API.
export module ringbahn;

// core
export import :error;
export import :buffer;
export import :cancellation;
export import :completion;
export import :event;
export import :slot_request;
export import :drive;
export import :submission;
export import :task;
export import :task_set;
export import :done_signal;
export import :block_on;
export import :fd_reclaim;
export import :buffer_policy;
export import :buffer_pool;
export import :ring;

// io objects
export import :io.owned_fd;
export import :io.file;
export import :io.stream;
export import :io.socket_address;
export import :io.tcp;

// events
export import :events.nop;
export import :events.read;
export import :events.write;
export import :events.readv;
export import :events.writev;
export import :events.fsync;
export import :events.close;
export import :events.openat;
export import :events.accept;
export import :events.connect;
export import :events.send;
export import :events.recv;
export import :events.timeout;
export import :events.async_cancel;

// buffer policies
export import :policies.heap;
export import :policies.pooled;
export import :policies.registered;

// drivers
export import :drivers.demo;
export import :drivers.local;

// detail: nothing exported, re-exported so instantiations can reach it
export import :detail.sqe;
export import :detail.recycler;
export import :detail.iovecs;
export import :detail.ring_core;
export import :detail.posted_queue;
