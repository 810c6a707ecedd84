import CSQLite
import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A failed SQLite call: the extended result code and SQLite's message (which names tables and
/// columns, never bound values).
struct SQLiteFailure: Error {
    let code: Int32
    let message: String

    /// SQLITE_BUSY and its extended forms: another connection holds the lock; try again.
    var isBusy: Bool { code & 0xFF == SQLITE_BUSY }
    /// SQLITE_CONSTRAINT_PRIMARYKEY / _UNIQUE (function-like macros Swift does not import).
    var isPrimaryKeyConflict: Bool { code == SQLITE_CONSTRAINT | (6 << 8) || code == SQLITE_CONSTRAINT | (8 << 8) }
}

/// A value bound to a statement parameter.
enum SQLiteValue {
    case integer(Int64)
    case text(String)
    case blob(Data)
    case null

    static func text(_ value: String?) -> SQLiteValue { value.map { .text($0) } ?? .null }
    static func integer(_ value: Int64?) -> SQLiteValue { value.map { .integer($0) } ?? .null }
}

/// One SQLite connection with a cache of prepared statements.
///
/// Not thread-safe and not `Sendable` on purpose: `SQLiteStore` confines each connection to its
/// own thread (and lock), so nothing here needs SQLite's own mutexes.
final class SQLiteConnection {
    private var handle: OpaquePointer?
    private var statements: [String: OpaquePointer] = [:]

    init(path: String, busyTimeout: Duration) throws(SQLiteFailure) {
        var handle: OpaquePointer?
        let flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX
        let status = sqlite3_open_v2(path, &handle, flags, nil)
        guard status == SQLITE_OK, let handle else {
            let message = handle.map { String(cString: sqlite3_errmsg($0)) } ?? "out of memory"
            sqlite3_close_v2(handle)
            throw SQLiteFailure(code: status, message: message)
        }
        self.handle = handle
        sqlite3_extended_result_codes(handle, 1)
        let milliseconds = busyTimeout.components.seconds * 1000 + busyTimeout.components.attoseconds / 1_000_000_000_000_000
        sqlite3_busy_timeout(handle, Int32(clamping: milliseconds))
    }

    deinit { close() }

    /// Finalizes the cached statements and closes the database (idempotent).
    func close() {
        for statement in statements.values { sqlite3_finalize(statement) }
        statements = [:]
        if let handle { sqlite3_close_v2(handle) }
        handle = nil
    }

    /// Runs SQL text without parameters (pragmas, migrations); several statements allowed.
    func executeScript(_ sql: String) throws(SQLiteFailure) {
        let database = try open()
        let status = sqlite3_exec(database, sql, nil, nil, nil)
        guard status == SQLITE_OK else { throw failure(status) }
    }

    /// Runs one statement and returns how many rows it changed.
    @discardableResult
    func execute(_ sql: String, _ values: [SQLiteValue] = []) throws(SQLiteFailure) -> Int {
        let statement = try prepared(sql, values)
        defer { sqlite3_reset(statement) }
        while try step(statement) {}
        return Int(sqlite3_changes(try open()))
    }

    /// Runs one query and maps each row.
    func query<Row>(_ sql: String, _ values: [SQLiteValue] = [], _ map: (SQLiteRow) throws -> Row) throws -> [Row] {
        let statement = try prepared(sql, values)
        defer { sqlite3_reset(statement) }
        var rows: [Row] = []
        while try step(statement) {
            rows.append(try map(SQLiteRow(statement: statement)))
        }
        return rows
    }

    /// True outside a transaction.
    var isAutocommit: Bool { handle.map { sqlite3_get_autocommit($0) != 0 } ?? true }

    /// Runs `body` in a transaction: `BEGIN IMMEDIATE` for writes takes the write lock up front,
    /// so a writer never fails half-way when another process wrote since its read (which
    /// deferred transactions in WAL mode do with SQLITE_BUSY_SNAPSHOT). Rolls back on any error.
    func transaction<T>(immediate: Bool, _ body: () throws -> T) throws -> T {
        try executeScript(immediate ? "BEGIN IMMEDIATE" : "BEGIN")
        do {
            let result = try body()
            try executeScript("COMMIT")
            return result
        } catch {
            if !isAutocommit { try? executeScript("ROLLBACK") }
            throw error
        }
    }

    /// Repeats `body` while SQLite answers SQLITE_BUSY and `timeout` has not passed. SQLite's
    /// busy handler already waits for locks inside most calls; this covers the cases where WAL
    /// mode reports busy at once (recovery, a checkpoint racing a new reader).
    func retryingWhileBusy<T>(timeout: Duration, _ body: () throws -> T) throws -> T {
        let deadline = ContinuousClock.now + timeout
        var pause: UInt32 = 1000
        while true {
            do {
                return try body()
            } catch let failure as SQLiteFailure where failure.isBusy && ContinuousClock.now < deadline {
                usleep(pause + UInt32.random(in: 0...pause))
                pause = min(pause * 2, 50_000)
            }
        }
    }

    // MARK: - Statements

    private func open() throws(SQLiteFailure) -> OpaquePointer {
        guard let handle else { throw SQLiteFailure(code: SQLITE_MISUSE, message: "the database is closed") }
        return handle
    }

    private func failure(_ status: Int32) -> SQLiteFailure {
        let message = handle.map { String(cString: sqlite3_errmsg($0)) } ?? "the database is closed"
        return SQLiteFailure(code: status, message: message)
    }

    private func prepared(_ sql: String, _ values: [SQLiteValue]) throws(SQLiteFailure) -> OpaquePointer {
        let database = try open()
        let statement: OpaquePointer
        if let cached = statements[sql] {
            statement = cached
        } else {
            var created: OpaquePointer?
            let status = sqlite3_prepare_v3(database, sql, -1, UInt32(SQLITE_PREPARE_PERSISTENT), &created, nil)
            guard status == SQLITE_OK, let created else { throw failure(status) }
            statements[sql] = created
            statement = created
        }
        sqlite3_clear_bindings(statement)
        for (offset, value) in values.enumerated() {
            let index = Int32(offset + 1)
            let status: Int32
            switch value {
            case .integer(let integer):
                status = sqlite3_bind_int64(statement, index, integer)
            case .text(let text):
                status = text.withCString { CSQLite_bind_text_transient(statement, index, $0, Int32(text.utf8.count)) }
            case .blob(let data) where data.isEmpty:
                status = sqlite3_bind_zeroblob(statement, index, 0)
            case .blob(let data):
                status = data.withUnsafeBytes { CSQLite_bind_blob_transient(statement, index, $0.baseAddress, Int32($0.count)) }
            case .null:
                status = sqlite3_bind_null(statement, index)
            }
            guard status == SQLITE_OK else { throw failure(status) }
        }
        return statement
    }

    /// True when a row is ready, false when the statement finished.
    private func step(_ statement: OpaquePointer) throws(SQLiteFailure) -> Bool {
        switch sqlite3_step(statement) {
        case SQLITE_ROW: return true
        case SQLITE_DONE: return false
        case let status: throw failure(status)
        }
    }
}

/// The current row of a query; valid only inside the row closure.
struct SQLiteRow {
    let statement: OpaquePointer

    func isNull(_ column: Int32) -> Bool { sqlite3_column_type(statement, column) == SQLITE_NULL }

    func integer(_ column: Int32) -> Int64 { sqlite3_column_int64(statement, column) }

    func optionalInteger(_ column: Int32) -> Int64? { isNull(column) ? nil : integer(column) }

    func text(_ column: Int32) -> String { optionalText(column) ?? "" }

    func optionalText(_ column: Int32) -> String? {
        guard !isNull(column), let bytes = sqlite3_column_text(statement, column) else { return nil }
        let count = Int(sqlite3_column_bytes(statement, column))
        return String(decoding: UnsafeBufferPointer(start: bytes, count: count), as: UTF8.self)
    }

    func optionalBlob(_ column: Int32) -> Data? { isNull(column) ? nil : blob(column) }

    func blob(_ column: Int32) -> Data {
        let count = Int(sqlite3_column_bytes(statement, column))
        guard count > 0, let bytes = sqlite3_column_blob(statement, column) else { return Data() }
        return Data(bytes: bytes, count: count)
    }
}
