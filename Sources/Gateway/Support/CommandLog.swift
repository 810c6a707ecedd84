import Logging

/// The log lines of one command: the worker's logger with the command's metadata, which is put
/// together only for lines the log level lets through. (Setting it on a copy of the logger made
/// StreamLogHandler render its metadata text again, twice per command, even at warning level.)
struct CommandLog: Sendable {
    let logger: Logger
    let command: String?
    let correlationID: String?

    var metadata: Logger.Metadata {
        var metadata: Logger.Metadata = ["walink.command": "\(command ?? "-")"]
        if let correlationID { metadata["amqp.correlation_id"] = "\(correlationID)" }
        return metadata
    }

    func log(
        level: Logger.Level, _ message: @autoclosure () -> Logger.Message, metadata extra: @autoclosure () -> Logger.Metadata = [:],
        file: String = #fileID, function: String = #function, line: UInt = #line
    ) {
        logger.log(level: level, message(), metadata: metadata.merging(extra()) { $1 }, file: file, function: function, line: line)
    }

    func debug(
        _ message: @autoclosure () -> Logger.Message, metadata extra: @autoclosure () -> Logger.Metadata = [:],
        file: String = #fileID, function: String = #function, line: UInt = #line
    ) {
        log(level: .debug, message(), metadata: extra(), file: file, function: function, line: line)
    }

    func info(
        _ message: @autoclosure () -> Logger.Message, metadata extra: @autoclosure () -> Logger.Metadata = [:],
        file: String = #fileID, function: String = #function, line: UInt = #line
    ) {
        log(level: .info, message(), metadata: extra(), file: file, function: function, line: line)
    }

    func warning(
        _ message: @autoclosure () -> Logger.Message, metadata extra: @autoclosure () -> Logger.Metadata = [:],
        file: String = #fileID, function: String = #function, line: UInt = #line
    ) {
        log(level: .warning, message(), metadata: extra(), file: file, function: function, line: line)
    }
}
