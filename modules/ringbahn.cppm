// SPDX-License-Identifier: MIT
// ringbahn — the primary module interface: `import ringbahn;` gives the whole public API.
export module ringbahn;

// The table of contents, bottom layer first: each layer uses only the ones above it here.
//
// 1. The op protocol (modules/protocol/): what one io_uring op is, and the state it shares with
//    its awaiter until its last CQE — errors, the Event contract, the completion state
//    machine, the Cancellation that owns what the kernel borrows.
export import :protocol.error;
export import :protocol.cancellation;
export import :protocol.completion;
export import :protocol.slot_request;
export import :protocol.event;
export import :protocol.fd_reclaim;
export import :protocol.op_handle;

// 2. The driver contract (modules/drive/): SQE slots, cancel, post, run loop, liveness.
export import :drive.liveness;
export import :drive.drive;
export import :drive.poster;
export import :drive.done_signal;

// 3. Awaiting ops (modules/await/): the handshake an op makes with its driver (Operation), one
//    event on one driver, multishot streams, when_all / when_any, and the stop scopes that
//    cancel the losers.
export import :await.stop_scope;
export import :await.operation;
export import :await.submission;
export import :await.multishot_stream;
export import :await.when;

// 4. Tasks (modules/tasks/): Task<T>, detached tasks a driver owns, block_on.
export import :tasks.task;
export import :tasks.task_set;
export import :tasks.block_on;

// 5. Buffers (modules/buffers/, policies/): owned buffers, pools, provided-buffer rings, and
//    the BufferPolicy a Ring leases from.
export import :buffers.buffer;
export import :buffers.ready;
export import :buffers.provided_buffers;
export import :buffers.buffer_policy;
export import :buffers.buffer_pool;

// 6. Ring (modules/ring.cppm): buffered IO over a file or socket, on all of the above.
export import :ring;

// 7. IO objects (modules/io/), the ops (modules/events/), buffer policies (policies/) and the
//    shipped drivers (modules/drivers/).

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
export import :drivers.remote_inbox;

// 8. Thread per core (modules/runtime/): one LocalDriver per thread, tasks spawned and
//    coroutines moved between them, and channels carrying values across.
export import :runtime.runtime;
export import :runtime.channel;
export import :runtime.call_on;

// detail: nothing exported, re-exported so instantiations can reach it
export import :detail.sqe;
export import :detail.await_once;
export import :detail.slot;
export import :detail.recycler;
export import :detail.iovecs;
export import :detail.uring;
export import :detail.posted_queue;
export import :detail.c_string;
