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
export import :liveness;
export import :drive;
export import :poster;
export import :ready;
export import :submission;
export import :task;
export import :task_set;
export import :done_signal;
export import :block_on;
export import :fd_reclaim;
export import :op_handle;
export import :when;
export import :stop_scope;
export import :buffer_ring;
export import :multishot_stream;
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
export import :events.statx;
export import :events.file_space;
export import :events.path;
export import :events.splice;
export import :events.socket;
export import :events.msg;
export import :events.poll;
export import :events.msg_ring;
export import :events.send_zc;
export import :events.openat2;
export import :events.xattr;
export import :events.waitid;
export import :events.futex;
export import :events.fixed_file;
export import :events.link;
export import :events.buffer_select;
export import :events.multishot;

// buffer policies
export import :policies.heap;
export import :policies.pooled;
export import :policies.registered;
export import :policies.provided;

// drivers
export import :drivers.demo;
export import :drivers.local;

// detail: nothing exported, re-exported so instantiations can reach it
export import :detail.sqe;
export import :detail.await_once;
export import :detail.recycler;
export import :detail.iovecs;
export import :detail.ring_core;
export import :detail.posted_queue;
export import :detail.c_string;
