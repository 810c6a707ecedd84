import CRabbitMQ

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Owns C memory handed to one rabbitmq-c call (strings, tables, properties) and frees it afterwards.
/// rabbitmq-c keeps raw pointers to what it is given, and Swift strings are only valid inside a
/// closure, so every outgoing value is copied here first. Confined to the connection's thread.
///
/// With a `capacity`, values are copied into one block that ``reset()`` reuses, so an arena kept
/// for every publish allocates nothing once the block is big enough (a publish used to make about
/// ten `malloc`s); what does not fit is allocated on its own, and the block grows at the next reset.
final class CArena {
    private var block: UnsafeMutableRawPointer?
    /// The reusable block's size (grows at ``reset()`` when a cycle needed more).
    private(set) var blockSize: Int
    private var used = 0
    /// Bytes asked for since the last reset, fitting or not: the block's next size.
    private var requested = 0
    private var allocations: [UnsafeMutableRawPointer] = []

    init(capacity: Int = 0) {
        blockSize = capacity
        block = capacity > 0 ? malloc(capacity) : nil
    }

    deinit {
        for pointer in allocations { free(pointer) }
        free(block)
    }

    /// Releases everything handed out, keeping (and if it was too small, growing) the block.
    func reset() {
        for pointer in allocations { free(pointer) }
        allocations.removeAll(keepingCapacity: true)
        if requested > blockSize, blockSize > 0 {
            free(block)
            blockSize = max(requested, blockSize * 2)
            block = malloc(blockSize)
        }
        used = 0
        requested = 0
    }

    /// Memory for `count` bytes, 8-byte aligned, valid until the next reset (or the arena's end).
    func allocate(_ count: Int) -> UnsafeMutableRawPointer {
        let start = (used + 7) & ~7
        requested = ((requested + 7) & ~7) + count
        if let block, start + count <= blockSize {
            used = start + count
            return block + start
        }
        let memory = malloc(max(count, 1))!
        allocations.append(memory)
        return memory
    }

    func bytes(_ value: [UInt8]) -> amqp_bytes_t {
        value.withUnsafeBytes { copy($0) }
    }

    /// Copies the string's UTF-8 straight into C memory (no intermediate array).
    func bytes(_ value: String) -> amqp_bytes_t {
        var value = value
        return value.withUTF8 { copy(UnsafeRawBufferPointer($0)) }
    }

    /// Whether `pointer` lies in the reusable block (for tests).
    func isInBlock(_ pointer: UnsafeMutableRawPointer) -> Bool {
        guard let block else { return false }
        return pointer >= block && pointer < block + blockSize
    }

    private func copy(_ source: UnsafeRawBufferPointer) -> amqp_bytes_t {
        guard !source.isEmpty else { return amqp_bytes_t(len: 0, bytes: nil) }
        let memory = allocate(source.count)
        memory.copyMemory(from: source.baseAddress!, byteCount: source.count)
        return amqp_bytes_t(len: source.count, bytes: memory)
    }

    func cString(_ value: String) -> UnsafePointer<CChar> {
        let utf8 = Array(value.utf8) + [0]
        let memory = allocate(utf8.count)
        utf8.withUnsafeBytes { memory.copyMemory(from: $0.baseAddress!, byteCount: utf8.count) }
        return UnsafePointer(memory.assumingMemoryBound(to: CChar.self))
    }

    func table(_ table: AMQPTable) -> amqp_table_t {
        guard !table.isEmpty else { return amqp_table_t(num_entries: 0, entries: nil) }
        let count = table.entries.count
        let raw = allocate(MemoryLayout<amqp_table_entry_t>.stride * count)
        let entries = raw.bindMemory(to: amqp_table_entry_t.self, capacity: count)
        for (index, entry) in table.entries.enumerated() {
            (entries + index).initialize(to: amqp_table_entry_t(key: bytes(entry.key), value: fieldValue(entry.value)))
        }
        return amqp_table_t(num_entries: Int32(count), entries: entries)
    }

    func fieldValue(_ value: AMQPFieldValue) -> amqp_field_value_t {
        var field = amqp_field_value_t()
        switch value {
        case .bool(let v):
            field.kind = kind(AMQP_FIELD_KIND_BOOLEAN)
            field.value.boolean = v ? 1 : 0
        case .int8(let v):
            field.kind = kind(AMQP_FIELD_KIND_I8)
            field.value.i8 = v
        case .uint8(let v):
            field.kind = kind(AMQP_FIELD_KIND_U8)
            field.value.u8 = v
        case .int16(let v):
            field.kind = kind(AMQP_FIELD_KIND_I16)
            field.value.i16 = v
        case .uint16(let v):
            field.kind = kind(AMQP_FIELD_KIND_U16)
            field.value.u16 = v
        case .int32(let v):
            field.kind = kind(AMQP_FIELD_KIND_I32)
            field.value.i32 = v
        case .uint32(let v):
            field.kind = kind(AMQP_FIELD_KIND_U32)
            field.value.u32 = v
        case .int64(let v):
            field.kind = kind(AMQP_FIELD_KIND_I64)
            field.value.i64 = v
        case .uint64(let v):
            field.kind = kind(AMQP_FIELD_KIND_U64)
            field.value.u64 = v
        case .float(let v):
            field.kind = kind(AMQP_FIELD_KIND_F32)
            field.value.f32 = v
        case .double(let v):
            field.kind = kind(AMQP_FIELD_KIND_F64)
            field.value.f64 = v
        case .decimal(let decimals, let v):
            field.kind = kind(AMQP_FIELD_KIND_DECIMAL)
            field.value.decimal = amqp_decimal_t(decimals: decimals, value: v)
        case .bytes(let v):
            field.kind = kind(AMQP_FIELD_KIND_UTF8)
            field.value.bytes = bytes(v)
        case .array(let values):
            field.kind = kind(AMQP_FIELD_KIND_ARRAY)
            if values.isEmpty {
                field.value.array = amqp_array_t(num_entries: 0, entries: nil)
            } else {
                let raw = allocate(MemoryLayout<amqp_field_value_t>.stride * values.count)
                let items = raw.bindMemory(to: amqp_field_value_t.self, capacity: values.count)
                for (index, item) in values.enumerated() { (items + index).initialize(to: fieldValue(item)) }
                field.value.array = amqp_array_t(num_entries: Int32(values.count), entries: items)
            }
        case .table(let nested):
            field.kind = kind(AMQP_FIELD_KIND_TABLE)
            field.value.table = table(nested)
        case .timestamp(let v):
            field.kind = kind(AMQP_FIELD_KIND_TIMESTAMP)
            field.value.u64 = v
        case .void:
            field.kind = kind(AMQP_FIELD_KIND_VOID)
        }
        return field
    }

    func properties(_ properties: AMQPProperties) -> amqp_basic_properties_t {
        var result = amqp_basic_properties_t()
        var flags: UInt32 = 0
        if let v = properties.contentType {
            flags |= UInt32(AMQP_BASIC_CONTENT_TYPE_FLAG)
            result.content_type = bytes(v)
        }
        if let v = properties.contentEncoding {
            flags |= UInt32(AMQP_BASIC_CONTENT_ENCODING_FLAG)
            result.content_encoding = bytes(v)
        }
        if let v = properties.headers {
            flags |= UInt32(AMQP_BASIC_HEADERS_FLAG)
            result.headers = table(v)
        }
        if let v = properties.deliveryMode {
            flags |= UInt32(AMQP_BASIC_DELIVERY_MODE_FLAG)
            result.delivery_mode = v
        }
        if let v = properties.priority {
            flags |= UInt32(AMQP_BASIC_PRIORITY_FLAG)
            result.priority = v
        }
        if let v = properties.correlationID {
            flags |= UInt32(AMQP_BASIC_CORRELATION_ID_FLAG)
            result.correlation_id = bytes(v)
        }
        if let v = properties.replyTo {
            flags |= UInt32(AMQP_BASIC_REPLY_TO_FLAG)
            result.reply_to = bytes(v)
        }
        if let v = properties.expiration {
            flags |= UInt32(AMQP_BASIC_EXPIRATION_FLAG)
            result.expiration = bytes(v)
        }
        if let v = properties.messageID {
            flags |= UInt32(AMQP_BASIC_MESSAGE_ID_FLAG)
            result.message_id = bytes(v)
        }
        if let v = properties.timestamp {
            flags |= UInt32(AMQP_BASIC_TIMESTAMP_FLAG)
            result.timestamp = v
        }
        if let v = properties.type {
            flags |= UInt32(AMQP_BASIC_TYPE_FLAG)
            result.type = bytes(v)
        }
        if let v = properties.userID {
            flags |= UInt32(AMQP_BASIC_USER_ID_FLAG)
            result.user_id = bytes(v)
        }
        if let v = properties.appID {
            flags |= UInt32(AMQP_BASIC_APP_ID_FLAG)
            result.app_id = bytes(v)
        }
        result._flags = flags
        return result
    }

    private func kind(_ value: amqp_field_value_kind_t) -> UInt8 { UInt8(value.rawValue) }
}

// MARK: - From C (copies; the C memory is released by rabbitmq-c's buffer pools later)

enum CValues {
    static func bytes(_ value: amqp_bytes_t) -> [UInt8] {
        guard value.len > 0, let pointer = value.bytes else { return [] }
        return Array(UnsafeRawBufferPointer(start: pointer, count: value.len))
    }

    /// Text from a short string; invalid UTF-8 is repaired rather than dropped so that a hostile
    /// header can still be answered. Decoded straight from the frame (no intermediate array).
    static func string(_ value: amqp_bytes_t) -> String {
        guard value.len > 0, let pointer = value.bytes else { return "" }
        return String(decoding: UnsafeRawBufferPointer(start: pointer, count: value.len), as: UTF8.self)
    }

    static func table(_ table: amqp_table_t, depth: Int = 0) -> AMQPTable {
        guard table.num_entries > 0, let entries = table.entries else { return AMQPTable() }
        var result = AMQPTable()
        result.entries.reserveCapacity(Int(table.num_entries))
        for index in 0..<Int(table.num_entries) {
            let entry = entries[index]
            result.entries.append((key: string(entry.key), value: fieldValue(entry.value, depth: depth)))
        }
        return result
    }

    static func fieldValue(_ field: amqp_field_value_t, depth: Int) -> AMQPFieldValue {
        // rabbitmq-c already bounds nesting while decoding; this guard keeps our recursion finite too.
        guard depth < 64 else { return .void }
        switch UInt32(field.kind) {
        case AMQP_FIELD_KIND_BOOLEAN.rawValue: return .bool(field.value.boolean != 0)
        case AMQP_FIELD_KIND_I8.rawValue: return .int8(field.value.i8)
        case AMQP_FIELD_KIND_U8.rawValue: return .uint8(field.value.u8)
        case AMQP_FIELD_KIND_I16.rawValue: return .int16(field.value.i16)
        case AMQP_FIELD_KIND_U16.rawValue: return .uint16(field.value.u16)
        case AMQP_FIELD_KIND_I32.rawValue: return .int32(field.value.i32)
        case AMQP_FIELD_KIND_U32.rawValue: return .uint32(field.value.u32)
        case AMQP_FIELD_KIND_I64.rawValue: return .int64(field.value.i64)
        case AMQP_FIELD_KIND_U64.rawValue: return .uint64(field.value.u64)
        case AMQP_FIELD_KIND_F32.rawValue: return .float(field.value.f32)
        case AMQP_FIELD_KIND_F64.rawValue: return .double(field.value.f64)
        case AMQP_FIELD_KIND_DECIMAL.rawValue:
            return .decimal(decimals: field.value.decimal.decimals, value: field.value.decimal.value)
        case AMQP_FIELD_KIND_UTF8.rawValue, AMQP_FIELD_KIND_BYTES.rawValue: return .bytes(bytes(field.value.bytes))
        case AMQP_FIELD_KIND_ARRAY.rawValue:
            let array = field.value.array
            guard array.num_entries > 0, let items = array.entries else { return .array([]) }
            return .array((0..<Int(array.num_entries)).map { fieldValue(items[$0], depth: depth + 1) })
        case AMQP_FIELD_KIND_TABLE.rawValue: return .table(table(field.value.table, depth: depth + 1))
        case AMQP_FIELD_KIND_TIMESTAMP.rawValue: return .timestamp(field.value.u64)
        default: return .void
        }
    }

    static func properties(_ p: amqp_basic_properties_t) -> AMQPProperties {
        var repeated = RepeatedStrings()
        return properties(p, repeated: &repeated)
    }

    /// The properties, taking the fields that tend to repeat from message to message (content type,
    /// `reply_to`, `type`, header names, ...) from `repeated` when they are the same bytes again.
    static func properties(_ p: amqp_basic_properties_t, repeated: inout RepeatedStrings) -> AMQPProperties {
        let flags = p._flags
        func has(_ flag: Int32) -> Bool { flags & UInt32(flag) != 0 }
        // Built in one initializer call: assigning field by field to a local copied the whole
        // struct (a dozen references) along the way.
        return AMQPProperties(
            contentType: has(AMQP_BASIC_CONTENT_TYPE_FLAG) ? repeated.string(p.content_type, .contentType) : nil,
            contentEncoding: has(AMQP_BASIC_CONTENT_ENCODING_FLAG) ? repeated.string(p.content_encoding, .contentEncoding) : nil,
            headers: has(AMQP_BASIC_HEADERS_FLAG) ? table(p.headers, repeated: &repeated) : nil,
            deliveryMode: has(AMQP_BASIC_DELIVERY_MODE_FLAG) ? p.delivery_mode : nil,
            priority: has(AMQP_BASIC_PRIORITY_FLAG) ? p.priority : nil,
            correlationID: has(AMQP_BASIC_CORRELATION_ID_FLAG) ? string(p.correlation_id) : nil,
            replyTo: has(AMQP_BASIC_REPLY_TO_FLAG) ? repeated.string(p.reply_to, .replyTo) : nil,
            expiration: has(AMQP_BASIC_EXPIRATION_FLAG) ? string(p.expiration) : nil,
            messageID: has(AMQP_BASIC_MESSAGE_ID_FLAG) ? string(p.message_id) : nil,
            timestamp: has(AMQP_BASIC_TIMESTAMP_FLAG) ? p.timestamp : nil,
            type: has(AMQP_BASIC_TYPE_FLAG) ? repeated.string(p.type, .type) : nil,
            userID: has(AMQP_BASIC_USER_ID_FLAG) ? repeated.string(p.user_id, .userID) : nil,
            appID: has(AMQP_BASIC_APP_ID_FLAG) ? repeated.string(p.app_id, .appID) : nil
        )
    }

    /// A message's headers: names (and short text values, such as an `authorization` header sent
    /// with every command) come from `repeated` when seen before; nested values are converted as usual.
    static func table(_ table: amqp_table_t, repeated: inout RepeatedStrings) -> AMQPTable {
        guard table.num_entries > 0, let entries = table.entries else { return AMQPTable() }
        var result = AMQPTable()
        result.entries.reserveCapacity(Int(table.num_entries))
        for index in 0..<Int(table.num_entries) {
            let entry = entries[index]
            let value: AMQPFieldValue
            switch UInt32(entry.value.kind) {
            case AMQP_FIELD_KIND_UTF8.rawValue, AMQP_FIELD_KIND_BYTES.rawValue:
                value = .bytes(repeated.bytes(entry.value.value.bytes))
            default:
                value = fieldValue(entry.value, depth: 0)
            }
            result.entries.append((key: repeated.headerName(entry.key), value: value))
        }
        return result
    }
}

/// Text that tends to arrive again and again on one connection (the exchange and routing key of a
/// consumer, a caller's `reply_to`, `content_type`, `type`, header names and values), remembered so
/// that a repeat costs a byte comparison instead of an allocation and a UTF-8 validation. One entry
/// per field, plus a few for header names and values; anything else is converted as usual.
/// Confined to the connection's thread.
struct RepeatedStrings {
    enum Field: Int, CaseIterable {
        case consumerTag, exchange, routingKey, contentType, contentEncoding, replyTo, type, userID, appID
    }

    /// Longer values are not remembered (they are unlikely to repeat, and comparing costs too).
    static let maxLength = 256
    static let headerSlots = 8

    private var fields = [(bytes: [UInt8], string: String)?](repeating: nil, count: Field.allCases.count)
    private var headerNames: [(bytes: [UInt8], string: String)] = []
    private var headerValues: [[UInt8]] = []
    private var nextHeaderName = 0
    private var nextHeaderValue = 0

    mutating func string(_ value: amqp_bytes_t, _ field: Field) -> String { string(Self.buffer(value), field) }
    mutating func headerName(_ value: amqp_bytes_t) -> String { headerName(Self.buffer(value)) }
    mutating func bytes(_ value: amqp_bytes_t) -> [UInt8] { bytes(Self.buffer(value)) }

    mutating func string(_ buffer: UnsafeRawBufferPointer, _ field: Field) -> String {
        if let cached = fields[field.rawValue], Self.equal(cached.bytes, buffer) { return cached.string }
        let string = String(decoding: buffer, as: UTF8.self)
        if buffer.count <= Self.maxLength { fields[field.rawValue] = (Array(buffer), string) }
        return string
    }

    mutating func headerName(_ buffer: UnsafeRawBufferPointer) -> String {
        if let cached = headerNames.first(where: { Self.equal($0.bytes, buffer) }) { return cached.string }
        let string = String(decoding: buffer, as: UTF8.self)
        guard buffer.count <= Self.maxLength else { return string }
        Self.remember((Array(buffer), string), in: &headerNames, next: &nextHeaderName)
        return string
    }

    mutating func bytes(_ buffer: UnsafeRawBufferPointer) -> [UInt8] {
        if let cached = headerValues.first(where: { Self.equal($0, buffer) }) { return cached }
        let bytes = Array(buffer)
        if buffer.count <= Self.maxLength { Self.remember(bytes, in: &headerValues, next: &nextHeaderValue) }
        return bytes
    }

    /// Adds to a few slots, replacing the oldest once they are full.
    private static func remember<T>(_ value: T, in slots: inout [T], next: inout Int) {
        if slots.count < headerSlots {
            slots.append(value)
        } else {
            slots[next] = value
            next = (next + 1) % headerSlots
        }
    }

    private static func equal(_ bytes: [UInt8], _ buffer: UnsafeRawBufferPointer) -> Bool {
        guard bytes.count == buffer.count else { return false }
        guard buffer.count > 0, let base = buffer.baseAddress else { return true }
        return bytes.withUnsafeBytes { memcmp($0.baseAddress!, base, buffer.count) == 0 }
    }

    private static func buffer(_ value: amqp_bytes_t) -> UnsafeRawBufferPointer {
        guard value.len > 0, let pointer = value.bytes else { return UnsafeRawBufferPointer(start: nil, count: 0) }
        return UnsafeRawBufferPointer(start: pointer, count: value.len)
    }
}
