// The dht component's sources are being written; this file keeps the library non-empty.
namespace reef::dht {
int component_anchor = 0;
} // namespace reef::dht
