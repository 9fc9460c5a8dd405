"""TensorBoard's event files, written without TensorFlow: each record of a TFRecord file is
``length (uint64 LE) | masked crc32c(length) (uint32 LE) | data | masked crc32c(data)``, and each
data an ``Event`` protocol buffer, hand-encoded here (the few fields TensorBoard's scalar view
reads):

    Event   { double wall_time = 1; int64 step = 2; string file_version = 3;
              Summary summary = 5; }
    Summary { repeated Value value = 1; }
    Value   { string tag = 1; float simple_value = 2; }

The first record of a file carries ``file_version = "brain.Event:2"``. The CRC is CRC-32C
(Castagnoli), masked as TFRecord masks it: ``((crc >> 15 | crc << 17) + 0xa282ead8) mod 2^32``.
``read_events`` decodes what ``EventWriter`` wrote (the tests' independent check is the CRC and
the known CRC-32C test vector).
"""

import os
import socket
import struct
import time

_MASK_DELTA = 0xA282EAD8


def _crc32c_table():
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
        table.append(crc)
    return table


_TABLE = _crc32c_table()


def crc32c(data):
    """CRC-32C of ``data`` (bytes)."""
    crc = 0xFFFFFFFF
    for byte in data:
        crc = _TABLE[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def masked_crc32c(data):
    crc = crc32c(data)
    return (((crc >> 15) | (crc << 17)) + _MASK_DELTA) & 0xFFFFFFFF


def _varint(value):
    out = bytearray()
    value &= 0xFFFFFFFFFFFFFFFF  # negative int64 as protobuf writes it
    while True:
        bits, value = value & 0x7F, value >> 7
        out.append(bits | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _field(number, wire_type, payload):
    return _varint(number << 3 | wire_type) + payload


def _bytes_field(number, data):
    return _field(number, 2, _varint(len(data)) + data)


def encode_event(wall_time, step=None, file_version=None, scalars=None):
    """The serialized Event: ``scalars`` a dict tag -> float."""
    out = _field(1, 1, struct.pack("<d", wall_time))
    if step is not None:
        out += _field(2, 0, _varint(int(step)))
    if file_version is not None:
        out += _bytes_field(3, file_version.encode())
    if scalars:
        summary = b"".join(
            _bytes_field(1, _bytes_field(1, tag.encode()) + _field(2, 5, struct.pack(
                "<f", float(value)))) for tag, value in scalars.items())
        out += _bytes_field(5, summary)
    return out


def _record(data):
    length = struct.pack("<Q", len(data))
    return length + struct.pack("<I", masked_crc32c(length)) + data + \
        struct.pack("<I", masked_crc32c(data))


class EventWriter:
    """One event file in ``log_dir`` (made if missing), named as TensorFlow names them
    (``events.out.tfevents.<time>.<host>.<pid>.<n>.v2``); each write is flushed."""

    _count = 0

    def __init__(self, log_dir):
        os.makedirs(log_dir, exist_ok=True)
        EventWriter._count += 1
        name = (f"events.out.tfevents.{int(time.time())}.{socket.gethostname()}."
                f"{os.getpid()}.{EventWriter._count}.v2")
        self.path = os.path.join(log_dir, name)
        self._file = open(self.path, "wb")
        self._write(encode_event(time.time(), step=0, file_version="brain.Event:2"))

    def _write(self, data):
        self._file.write(_record(data))
        self._file.flush()

    def scalars(self, step, values):
        """The scalars ``values`` (tag -> float) at ``step``."""
        self._write(encode_event(time.time(), step=step, scalars=values))

    def close(self):
        if not self._file.closed:
            self._file.close()


def _read_varint(data, pos):
    shift = value = 0
    while True:
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, pos


def _fields(data):
    pos = 0
    while pos < len(data):
        key, pos = _read_varint(data, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _read_varint(data, pos)
        elif wire == 1:
            value, pos = data[pos:pos + 8], pos + 8
        elif wire == 5:
            value, pos = data[pos:pos + 4], pos + 4
        elif wire == 2:
            size, pos = _read_varint(data, pos)
            value, pos = data[pos:pos + size], pos + size
        else:
            raise ValueError(f"wire type {wire} is not one gpudnn writes")
        yield number, value


def read_events(path):
    """``[(step, {tag: value})]`` of the scalar events of an event file (the version record
    left out); raises ValueError on a record whose CRC does not match."""
    with open(path, "rb") as f:
        data = f.read()
    events, pos = [], 0
    while pos < len(data):
        header = data[pos:pos + 8]
        (length,) = struct.unpack("<Q", header)
        if struct.unpack("<I", data[pos + 8:pos + 12])[0] != masked_crc32c(header):
            raise ValueError(f"{path}: a record's length CRC does not match")
        body = data[pos + 12:pos + 12 + length]
        if struct.unpack("<I", data[pos + 12 + length:pos + 16 + length])[0] != \
                masked_crc32c(body):
            raise ValueError(f"{path}: a record's data CRC does not match")
        pos += 16 + length
        step, scalars = 0, {}
        for number, value in _fields(body):
            if number == 2:
                step = value
            elif number == 5:
                for _, item in _fields(value):
                    entry = dict(_fields(item))
                    scalars[entry[1].decode()] = struct.unpack("<f", entry[2])[0]
        if scalars:
            events.append((step, scalars))
    return events
