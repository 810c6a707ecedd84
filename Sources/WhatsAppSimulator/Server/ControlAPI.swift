import Foundation

/// The simulator's control surface for out-of-process use (`walink sim`), as JSON over HTTP:
///
/// | Request | Body | Answer |
/// |---|---|---|
/// | `GET /control/status` | | ``ControlAPI/Status`` |
/// | `GET /control/ca` | | the CA certificate PEM |
/// | `GET /control/connections` | | ``ControlAPI/Connections``: every WebSocket connection, its frames' times and Noise key |
/// | `POST /control/scan` | `{"qr": "...", "phone": "...", "faults": {...}}` | ``ControlAPI/Outcome`` |
/// | `POST /control/code` | `{"code": "...", "phone": "...", "faults": {...}}` | ``ControlAPI/Outcome`` |
/// | `POST /control/faults` | `{"scope": "global"|"next-connection"|"phone", "phone": "...", "faults": {...}}` or `{"clear": true}` | `{}` |
///
/// `phone` is optional (the simulator's default phone), `faults` is a ``SimulatorFaults`` applied to that
/// one action. Errors answer `{"error": "<name>", "detail": "..."}` with 400 (bad input), 404 (no such
/// connection or code request), 409 (the pairing failed), 410 (connection gone or ref expired), 504
/// (timeout) or 500.
public struct ControlAPI: Sendable {
    private let simulator: Simulator

    public init(simulator: Simulator) {
        self.simulator = simulator
    }

    /// An HTTP answer.
    public struct Response: Sendable, Hashable {
        public var status: Int
        public var contentType: String
        public var body: [UInt8]
    }

    /// `GET /control/status`.
    public struct Status: Sendable, Hashable, Codable {
        public var webSocketURL: String?
        public var caFilePath: String?
        public var rootPublicKeyHex: String
        public var defaultPhone: String
        public var pairedDevices: [PairedDevice]
        public var openConnections: Int
        public var registrationConnections: Int
        public var pendingCodeRequests: Int
        public var phones: [SimulatorStatus.Phone]
    }

    /// `GET /control/connections`: ``Simulator/connections``, in the order they were accepted.
    public struct Connections: Sendable, Hashable, Codable {
        public var connections: [SimulatorConnection]
    }

    /// The answer to a scan or code entry.
    public struct Outcome: Sendable, Hashable, Codable {
        /// `paired`, `companion-reg-refresh-sent`, `passkey-request-sent` or `connection-dropped`.
        public var outcome: String
        public var device: PairedDevice?
    }

    struct ScanRequestBody: Codable {
        var qr: String
        var phone: String?
        var faults: SimulatorFaults?
    }

    struct CodeRequestBody: Codable {
        var code: String
        var phone: String?
        var faults: SimulatorFaults?
    }

    struct FaultsRequestBody: Codable {
        var scope: String?
        var phone: String?
        var faults: SimulatorFaults?
        var clear: Bool?
    }

    struct ErrorBody: Codable {
        var error: String
        var detail: String?
    }

    /// Handles one request.
    public func respond(method: String, path: String, body: [UInt8]) async -> Response {
        switch (method, WebSocketServer.path(of: path)) {
        case ("GET", "/control/status"):
            return json(200, status())
        case ("GET", "/control/connections"):
            return json(200, Connections(connections: simulator.connections))
        case ("GET", "/control/ca"):
            guard let pem = simulator.caPEM else { return error(404, "no-ca", nil) }
            return Response(status: 200, contentType: "application/x-pem-file", body: Array(pem.utf8))
        case ("POST", "/control/scan"):
            guard let request = decode(ScanRequestBody.self, body) else { return error(400, "bad-request", "body") }
            return await outcome {
                try await simulator.scan(
                    qr: request.qr, phone: request.phone ?? simulator.defaultPhoneNumber, faults: request.faults ?? .none)
            }
        case ("POST", "/control/code"):
            guard let request = decode(CodeRequestBody.self, body) else { return error(400, "bad-request", "body") }
            return await outcome {
                try await simulator.enterCode(
                    request.code, phone: request.phone ?? simulator.defaultPhoneNumber, faults: request.faults ?? .none)
            }
        case ("POST", "/control/faults"):
            guard let request = decode(FaultsRequestBody.self, body) else { return error(400, "bad-request", "body") }
            if request.clear == true {
                simulator.clearFaults()
                if request.faults == nil { return json(200, [String: String]()) }
            }
            let scope: FaultScope
            switch request.scope ?? "global" {
            case "global": scope = .global
            case "next-connection": scope = .nextConnection
            case "phone":
                guard let phone = request.phone else { return error(400, "bad-request", "phone missing") }
                scope = .phone(phone)
            default: return error(400, "bad-request", "unknown scope")
            }
            simulator.setFaults(request.faults ?? .none, for: scope)
            return json(200, [String: String]())
        case (_, "/control/status"), (_, "/control/ca"), (_, "/control/connections"), (_, "/control/scan"), (_, "/control/code"),
            (_, "/control/faults"):
            return error(405, "method-not-allowed", nil)
        default:
            return error(404, "not-found", nil)
        }
    }

    private func status() -> Status {
        let snapshot = simulator.status()
        let endpoints = simulator.endpoints
        return Status(
            webSocketURL: endpoints?.webSocketURL, caFilePath: endpoints?.caFilePath,
            rootPublicKeyHex: snapshot.rootPublicKeyHex, defaultPhone: simulator.defaultPhoneNumber,
            pairedDevices: snapshot.pairedDevices, openConnections: snapshot.openConnections,
            registrationConnections: snapshot.registrationConnections,
            pendingCodeRequests: snapshot.pendingCodeRequests, phones: snapshot.phones)
    }

    private func outcome(_ action: () async throws -> PhoneOutcome) async -> Response {
        do {
            let result = try await action()
            return switch result {
            case .paired(let device): json(200, Outcome(outcome: "paired", device: device))
            case .companionRegRefreshSent: json(200, Outcome(outcome: "companion-reg-refresh-sent"))
            case .passkeyRequestSent: json(200, Outcome(outcome: "passkey-request-sent"))
            case .connectionDropped: json(200, Outcome(outcome: "connection-dropped"))
            }
        } catch let failure as SimulatorError {
            return error(Self.httpStatus(failure.code), failure.code.name, failure.detail)
        } catch {
            return self.error(500, "internal-error", nil)
        }
    }

    static func httpStatus(_ code: SimulatorError.Code) -> Int {
        switch code {
        case .invalidQR, .invalidCode, .invalidPhoneNumber: 400
        case .noSuchConnection, .noPendingCodeRequest, .qrMismatch: 404
        case .wrongCode, .companionRejected, .invalidPairDeviceSign, .invalidCompanionFinish, .busy: 409
        case .connectionGone, .refExpired: 410
        case .timeout: 504
        default: 500
        }
    }

    private func decode<T: Decodable>(_ type: T.Type, _ body: [UInt8]) -> T? {
        try? JSONDecoder().decode(type, from: Data(body))
    }

    private func json(_ status: Int, _ value: some Encodable) -> Response {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        encoder.outputFormatting = [.sortedKeys]
        let body = (try? encoder.encode(value)).map { Array($0) } ?? Array("{}".utf8)
        return Response(status: status, contentType: "application/json", body: body)
    }

    private func error(_ status: Int, _ name: String, _ detail: String?) -> Response {
        json(status, ErrorBody(error: name, detail: detail))
    }
}
