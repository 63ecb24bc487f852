// What the tests share, as TestServer.kt does for the Kotlin tests. They run
// against real servers that `cargo xtask swift-test` starts and names in
// the environment:
//   PRAXIS_TEST_SERVER          a praxis-server (--dev, mail written to PRAXIS_TEST_MAIL_DIR)
//   PRAXIS_TEST_PUSH_SERVER     one sending wake-ups to a gateway writing them to PRAXIS_TEST_PUSH_DIR
//   PRAXIS_TEST_SILENT_SERVER   one that accepts and never answers (open-n/closed-n in PRAXIS_TEST_SILENT_DIR)
import Foundation
import XCTest
@testable import Praxis

/// A key provider implemented in Swift, as apps do over the Keychain.
final class MemoryKeyProvider: PraxisKeyProvider, @unchecked Sendable {
    private let bytes: Data
    private let lock = NSLock()
    private var forgottenFlag = false

    init(_ bytes: Data = Data((0..<32).map { UInt8(($0 * 7 + 1) & 0xff) })) { self.bytes = bytes }
    convenience init(repeating byte: UInt8, count: Int = 32) { self.init(Data(repeating: byte, count: count)) }

    var forgotten: Bool { lock.lock(); defer { lock.unlock() }; return forgottenFlag }
    func key() throws -> Data { bytes }
    func forget() throws { lock.lock(); forgottenFlag = true; lock.unlock() }
}

struct Person {
    let email: String
    let password: String
    let fullName: String
}

func newPerson(_ tag: String) -> Person {
    let n = UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased()
    return Person(email: "\(tag).\(n.prefix(10))@clinic-example.org", password: "violet-tram-oboe-\(n.prefix(8))",
                  fullName: "Nurse \(tag) \(n.prefix(5))")
}

extension PraxisCore {
    @discardableResult
    func register(_ p: Person) async throws -> String {
        try await register(email: p.email, password: p.password, fullName: p.fullName, phone: "+33612345678",
                           country: "FR", language: "fr-FR", profession: "nurse", dateOfBirth: "1985-04-12")
    }
}

/// A new account signed in on its own device (cache key `[key; 32]`): the core and the account's id.
func signedIn(_ tag: String, key: UInt8) async throws -> (PraxisCore, String) {
    let person = newPerson(tag)
    let praxis = try await PraxisCore.open(serverURL: try serverURL(), dataDirectory: tempDir(),
                                           keyProvider: MemoryKeyProvider(repeating: key))
    try await praxis.register(person)
    return (praxis, try await praxis.login(email: person.email, password: person.password))
}

func tempDir() -> URL {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("praxis-swift-\(UUID().uuidString)")
    try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    return dir
}

/// A URL the test run names in the environment; the test is skipped without it.
func environment(_ name: String) throws -> String {
    guard let value = ProcessInfo.processInfo.environment[name], !value.isEmpty else {
        throw XCTSkip("\(name) is not set: run the Swift tests with `cargo xtask swift-test`")
    }
    return value
}

func serverURL(_ name: String = "PRAXIS_TEST_SERVER") throws -> URL {
    guard let url = URL(string: try environment(name)) else { throw XCTSkip("\(name) is not a URL") }
    return url
}

struct TimedOut: Error {}

/// `body`'s result, or `TimedOut` after `seconds` (the body is cancelled).
func within<T: Sendable>(_ seconds: Double, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
    try await withThrowingTaskGroup(of: T.self) { group in
        group.addTask { try await body() }
        group.addTask {
            try await Task.sleep(nanoseconds: UInt64(seconds * 1_000_000_000))
            throw TimedOut()
        }
        defer { group.cancelAll() }
        guard let first = try await group.next() else { throw TimedOut() }
        return first
    }
}

/// Asserts `body` throws exactly `expected`.
func assertThrows(_ expected: PraxisError, _ body: () async throws -> Void,
                  file: StaticString = #filePath, line: UInt = #line) async {
    do {
        try await body()
        XCTFail("expected \(expected), nothing was thrown", file: file, line: line)
    } catch let e as PraxisError {
        XCTAssertEqual(e, expected, file: file, line: line)
    } catch {
        XCTFail("expected \(expected), got \(type(of: error))", file: file, line: line)
    }
}

/// The `.invalidInput` field `body` throws, nil when it throws nothing or something else.
func invalidField(_ body: () async throws -> Void) async -> String? {
    do {
        try await body()
    } catch let PraxisError.invalidInput(field, _) {
        return field
    } catch {}
    return nil
}

/// The files in `dir` whose names start with `prefix`.
func files(in dir: String, prefix: String) -> [String] {
    ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).filter { $0.hasPrefix(prefix) }
}

/// The code mailed to `email` in the one message containing `marker` (`--dev` writes mail to files).
func mailedCode(to email: String, containing marker: String) async throws -> String {
    let dir = try environment("PRAXIS_TEST_MAIL_DIR")
    let pattern = try NSRegularExpression(pattern: "\\b[0-9A-Z]{4}-[0-9A-Z]{4}\\b")
    for _ in 0..<500 {
        for name in files(in: dir, prefix: "") where name.hasSuffix(".eml") {
            guard let text = try? String(contentsOfFile: "\(dir)/\(name)", encoding: .utf8),
                  text.contains(email), text.contains(marker) else { continue }
            let range = NSRange(text.startIndex..., in: text)
            if let last = pattern.matches(in: text, range: range).last, let r = Range(last.range, in: text) {
                return String(text[r])
            }
        }
        try await Task.sleep(nanoseconds: 20_000_000)
    }
    throw TimedOut()
}
