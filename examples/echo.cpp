#include <coroutine>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <expected>
import ringbahn;
using namespace ringbahn;

Task<void> echo(drivers::LocalDriver& d, io::TcpStream conn) { // one task per connection
    Ring ring(d, std::move(conn));
    while (auto data = co_await ring.fill_buf()) {
        if (data->empty() || !co_await ring.write_all(*data)) break; // end of stream, or gone
        ring.consume(data->size());
    }
}
Task<void> serve(drivers::LocalDriver& d, io::SocketAddress at) {
    auto listener = io::TcpListener::bind(d, at);
    if (!listener) co_return std::perror("bind");
    std::printf("echo: port %u\n", unsigned(listener->local_address()->port())), std::fflush(stdout);
    while (auto conn = co_await listener->accept()) d.spawn(echo(d, std::move(*conn)));
}
int main(int argc, char** argv) {
    auto d = drivers::LocalDriver::create().value();
    block_on(*d, serve(*d, *io::SocketAddress::v4("127.0.0.1", std::uint16_t(std::atoi(argc > 1 ? argv[1] : "7000")))));
}
