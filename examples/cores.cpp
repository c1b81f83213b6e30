// Thread per core: a Runtime runs one LocalDriver per core; main hands work to every core over
// channels and gathers the answers, and a coroutine moves to another core with switch_to.
#include <coroutine>
#include <cstdio>
#include <expected>
#include <vector>
import ringbahn;
using namespace ringbahn;

Task<void> square(Channel<int> in, Channel<int> out) { // runs on its own core
    while (auto n = co_await in.recv()) (void)co_await out.send(*n * *n);
}

Task<long> sum_of_squares(Runtime& rt, int count) {
    auto results = Channel<int>::create(64).value();
    std::vector<Channel<int>> work;
    for (unsigned core = 0; core < rt.cores(); ++core) {
        work.push_back(Channel<int>::create(64).value());
        (void)rt.spawn_on(core, square(work.back(), results));
    }
    long sum = 0;
    for (int i = 1; i <= count; ++i) { // hand out a number, take an answer back
        (void)co_await work[i % work.size()].send(i);
        if (auto r = co_await results.recv()) sum += *r;
    }
    for (auto& w : work) w.close(); // the squarers' recv ends with EPIPE: they finish
    (void)co_await rt.switch_to(rt.cores() - 1); // and main moves to the last core
    std::printf("moved to core %u; ", *rt.current_core());
    co_return sum;
}

int main() {
    auto rt = Runtime::create().value(); // one core per CPU this process may use
    const long sum = rt->run(sum_of_squares(*rt, 1000));
    std::printf("sum of squares 1..1000 = %ld on %u cores\n", sum, rt->cores());
    return sum == 333'833'500 ? 0 : 1;
}
