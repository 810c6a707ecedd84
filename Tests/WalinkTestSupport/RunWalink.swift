import Foundation

/// Runs the built `walink` program (from `WALINK_TEST_BINARY`, else next to the test bundle) and
/// returns its exit status and standard output.
public func runWalink(_ arguments: [String], environment extra: [String: String] = [:]) async throws -> (status: Int32, output: String) {
    let binary =
        ProcessInfo.processInfo.environment["WALINK_TEST_BINARY"].map { URL(fileURLWithPath: $0) }
        ?? Bundle.main.bundleURL.appendingPathComponent("walink")
    let outputFile = FileManager.default.temporaryDirectory.appendingPathComponent("walink-run-\(UUID().uuidString).out")
    defer { try? FileManager.default.removeItem(at: outputFile) }
    var environment = ProcessInfo.processInfo.environment
    for (key, value) in extra { environment[key] = value }
    let status = try await runProgramInBackground(binary.path, arguments, environment: environment, outputFile: outputFile.path)
    let output = (try? String(contentsOf: outputFile, encoding: .utf8)) ?? ""
    return (status, output)
}
