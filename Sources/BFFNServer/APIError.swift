import BFFNCore
import Hummingbird
import NIOCore
import NIOHTTP1

/// An error as the OpenAI API returns it: an HTTP status and `{"error": {"message", "type", "param", "code"}}`.
///
/// Every failure the server answers goes through this type (a middleware turns Hummingbird's own errors, such as a
/// body over the size limit, into it), so clients that read OpenAI's error object read all of ours.
public struct APIError: Error, Sendable, Equatable {
    /// The HTTP status.
    public var status: Int
    /// Human text: what was wrong and, for a field, which.
    public var message: String
    /// OpenAI's error type: `invalid_request_error`, `authentication_error`, `not_found_error`,
    /// `rate_limit_error`, `server_error`.
    public var type: String
    /// The request field at fault (e.g. `messages[1].content`), if any.
    public var param: String?
    /// A machine-readable code (e.g. `context_length_exceeded`, `queue_full`), if any.
    public var code: String?

    public init(status: Int, message: String, type: String, param: String? = nil, code: String? = nil) {
        self.status = status
        self.message = message
        self.type = type
        self.param = param
        self.code = code
    }

    /// A 400 for a request field: wrong type, out of range, or not supported.
    static func invalid(_ message: String, param: String? = nil, code: String? = nil) -> APIError {
        APIError(status: 400, message: message, type: "invalid_request_error", param: param, code: code)
    }

    /// A 400 for a field of the wrong JSON type.
    static func wrongType(_ param: String, expected: String, got: JSONValue) -> APIError {
        invalid("'\(param)' must be \(expected), not \(got.typeName)", param: param, code: "invalid_type")
    }

    /// The error object: `{"error": {"message", "type", "param", "code"}}`.
    public var json: JSONValue {
        .object([("error", .object([("message", .string(message)), ("type", .string(type)),
                                    ("param", param.map(JSONValue.string) ?? .null), ("code", code.map(JSONValue.string) ?? .null)]))])
    }

    /// The same error as an HTTP response with a JSON body.
    var response: Response {
        var headers: HTTPFields = [.contentType: "application/json"]
        if status == 429 { headers[.retryAfter] = "1" }
        if status == 401 { headers[.wwwAuthenticate] = "Bearer" }
        return Response(status: .init(code: status), headers: headers, body: .init(byteBuffer: ByteBuffer(string: json.serialized(pretty: false))))
    }

    /// What a library error means for the client: usage and input errors are the request's fault (400), the rest
    /// the server's (500).
    static func from(_ error: any Error) -> APIError {
        if let e = error as? APIError { return e }
        if error is NIOTooManyBytesError {
            return APIError(status: 413, message: "the request body is larger than the server accepts", type: "invalid_request_error", code: "request_too_large")
        }
        // The request's bytes stopped being HTTP part-way through its body (the connection closed mid-body, by the
        // client or by the idle timeout, or a malformed chunk): the client's fault, not the server's.
        if let e = error as? HTTPParserError {
            return APIError(status: 400, message: "the request is not valid HTTP: \(e)", type: "invalid_request_error", code: "invalid_http")
        }
        if let e = error as? HTTPError {
            let code = Int(e.status.code)
            let type = code == 404 ? "not_found_error" : code < 500 ? "invalid_request_error" : "server_error"
            let message = e.body ?? (code == 413 ? "the request body is larger than the server accepts" : e.status.reasonPhrase)
            return APIError(status: code, message: message, type: type, code: code == 413 ? "request_too_large" : nil)
        }
        if let e = error as? BFFNError {
            switch e.code {
            case .usage, .outOfBounds, .invalidJSON, .limitExceeded, .truncated, .duplicateName, .templateRaised, .templateError, .templateSyntax:
                return invalid(e.reason, param: e.location.field)
            default:
                return APIError(status: 500, message: e.reason, type: "server_error")
            }
        }
        return APIError(status: 500, message: "\(error)", type: "server_error")
    }
}
