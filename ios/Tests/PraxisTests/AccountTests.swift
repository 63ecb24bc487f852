// Mirrors android/jvm-tests AccountTest.kt, test for test.
import Foundation
import XCTest
@testable import Praxis

final class AccountTests: XCTestCase {
    func testRegisterLoginRestoreAfterReopeningLogout() async throws {
        let server = try serverURL()
        let dir = tempDir()
        let keys = MemoryKeyProvider()
        let person = newPerson("swift")
        var praxis = try await PraxisCore.open(serverURL: server, dataDirectory: dir, keyProvider: keys)
        XCTAssertEqual(praxis.session, .signedOut)
        let id = try await praxis.register(person)
        XCTAssertEqual(praxis.session, .signedOut)
        let signedIn = try await praxis.login(email: person.email, password: person.password)
        XCTAssertEqual(id, signedIn)
        let profile = try await praxis.profile()
        XCTAssertEqual(profile.email, person.email)
        XCTAssertEqual(profile.fullName, person.fullName)
        XCTAssertFalse(String(describing: profile).contains(person.email), "description hides personal data")

        // A new client on the same directory: the session comes back.
        praxis = try await PraxisCore.open(serverURL: server, dataDirectory: dir, keyProvider: keys)
        XCTAssertEqual(praxis.session, .signedIn(userID: id))
        let cached = try await praxis.cachedProfile()
        XCTAssertEqual(cached?.email, person.email)
        let updated = try await praxis.updateProfile(profession: "midwife")
        XCTAssertEqual(updated.profession, "midwife")
        // The login email is a credential: it changes only with the password re-entered.
        let newEmail = "renamed.\(person.email)"
        await assertThrows(.conflict(code: "reauth_required")) { _ = try await praxis.updateProfile(email: newEmail) }
        try await praxis.reauthenticate(password: person.password)
        let renamed = try await praxis.updateProfile(email: newEmail)
        XCTAssertEqual(renamed.email, newEmail)
        try await praxis.logout()
        XCTAssertEqual(praxis.session, .signedOut)
        let gone = try await praxis.cachedProfile()
        XCTAssertNil(gone)
        await assertThrows(.unauthorized) { _ = try await praxis.profile() }
        let reopened = try await PraxisCore.open(serverURL: server, dataDirectory: dir, keyProvider: keys)
        XCTAssertEqual(reopened.session, .signedOut)
    }

    func testALostPhoneIsSignedOutAndWipedFromTheLaptop() async throws {
        let server = try serverURL()
        let person = newPerson("devices")
        let phoneDir = tempDir()
        let phone = try await PraxisCore.open(serverURL: server, dataDirectory: phoneDir, keyProvider: MemoryKeyProvider(),
                                              deviceName: "iPhone Swift")
        try await phone.register(person)
        _ = try await phone.login(email: person.email, password: person.password)
        _ = try await phone.createAppointment(title: "Swift lost-phone visit", start: Date(), durationMinutes: 30)
        try await phone.syncNow()
        let laptop = try await PraxisCore.open(serverURL: server, dataDirectory: tempDir(),
                                               keyProvider: MemoryKeyProvider(repeating: 6), deviceName: "Laptop")
        _ = try await laptop.login(email: person.email, password: person.password)
        let sessions = try await laptop.devices.sessions()
        XCTAssertEqual(sessions.count, 2)
        let lost = try XCTUnwrap(sessions.first { !$0.current })
        XCTAssertEqual(lost.deviceName, "iPhone Swift")
        XCTAssertEqual(lost.platform, .ios)
        XCTAssertFalse(String(describing: lost).contains("iPhone"), "description hides the device name")
        // A wipe needs the password re-entered.
        await assertThrows(.conflict(code: "reauth_required")) { try await laptop.devices.endSession(id: lost.id, wipe: true) }
        try await laptop.reauthenticate(password: person.password)
        try await laptop.devices.endSession(id: lost.id, wipe: true)
        let left = try await laptop.devices.sessions()
        XCTAssertEqual(left.count, 1)
        // A new password: the laptop stays signed in, the old password is dead.
        await assertThrows(.invalidCredentials) {
            try await laptop.changePassword(current: "not the password", newPassword: "quartz-lantern-oboe-91")
        }
        try await laptop.changePassword(current: person.password, newPassword: "quartz-lantern-oboe-91")
        let still = try await laptop.profile()
        XCTAssertEqual(still.email, person.email)
        // The address is proved with the code mailed at registration.
        XCTAssertFalse(still.emailVerified)
        let wrongCode = await invalidField { try await laptop.verifyEmail(code: "ZZZZ-ZZZZ") }
        XCTAssertNotNil(wrongCode)
        try await laptop.verifyEmail(code: try await mailedCode(to: person.email, containing: "confirmation code"))
        let verified = try await laptop.profile()
        XCTAssertTrue(verified.emailVerified)
        let resent = try await laptop.resendVerification()
        XCTAssertFalse(resent)
        // Forgotten password: a mailed code sets a new one and ends every session.
        try await laptop.requestPasswordReset(email: person.email)
        let code = try await mailedCode(to: person.email, containing: "reset code")
        let wrongReset = await invalidField {
            try await laptop.resetPassword(email: person.email, code: "ZZZZ-ZZZZ", newPassword: "amber-kite-lumen-83-k")
        }
        XCTAssertNotNil(wrongReset)
        try await laptop.resetPassword(email: person.email, code: code, newPassword: "amber-kite-lumen-83-k")
        await assertThrows(.unauthorized) { _ = try await laptop.profile() }
        _ = try await laptop.login(email: person.email, password: "amber-kite-lumen-83-k")

        await assertThrows(.unauthorized) { _ = try await phone.profile() }
        XCTAssertEqual(phone.session, .wiped)
        let visits = try await phone.appointments()
        XCTAssertTrue(visits.isEmpty)
        // Read as bytes: the visit's title is nowhere in the phone's files.
        let names = (try? FileManager.default.contentsOfDirectory(atPath: phoneDir.path)) ?? []
        let bytes = names.compactMap { FileManager.default.contents(atPath: phoneDir.appendingPathComponent($0).path) }
            .reduce(Data(), +)
        XCTAssertNil(bytes.range(of: Data("Swift lost-phone visit".utf8)), "the visit is gone from the phone")
    }

    func testWrongPasswordAndBadInputMapToTheClosedErrors() async throws {
        let praxis = try await PraxisCore.open(serverURL: try serverURL(), dataDirectory: tempDir(),
                                               keyProvider: MemoryKeyProvider())
        let person = newPerson("errors")
        try await praxis.register(person)
        await assertThrows(.invalidCredentials) { _ = try await praxis.login(email: person.email, password: "not the password") }
        await assertThrows(.conflict(code: "email_taken")) { _ = try await praxis.register(person) }
        await assertThrows(.invalidInput(field: "password", reason: "weak_password")) {
            _ = try await praxis.register(email: "weak@clinic-example.org", password: "password1", fullName: "N",
                                          phone: "+33612345678", country: "FR", language: "fr", profession: "nurse",
                                          dateOfBirth: "1985-01-01")
        }
        // Ten years old on whatever day the test runs.
        var utc = Calendar(identifier: .gregorian)
        utc.timeZone = TimeZone(identifier: "UTC")!
        let child = utc.date(byAdding: .year, value: -10, to: Date())!
        let parts = utc.dateComponents([.year, .month, .day], from: child)
        let birth = String(format: "%04d-%02d-%02d", parts.year!, parts.month!, parts.day!)
        do {
            _ = try await praxis.register(email: "kid@clinic-example.org", password: "violet-tram-oboe-99", fullName: "N",
                                          phone: "+33612345678", country: "FR", language: "fr", profession: "nurse",
                                          dateOfBirth: birth)
            XCTFail("a minor was registered")
        } catch let PraxisError.invalidInput(_, reason) {
            XCTAssertEqual(reason, "too_young")
        }
        XCTAssertEqual(praxis.session, .signedOut)
        // What the app shows the user.
        XCTAssertEqual(PraxisError.invalidCredentials.localizedDescription, "The email address or the password is wrong.")
        XCTAssertEqual(PraxisError.network(reason: "pin_mismatch").localizedDescription,
                       "The server's identity could not be verified. Nothing was sent.")
    }

    func testAWrongKeyIsRefusedAndABadServerURLIsInvalidInput() async throws {
        let server = try serverURL()
        let dir = tempDir()
        _ = try await PraxisCore.open(serverURL: server, dataDirectory: dir, keyProvider: MemoryKeyProvider())
        await assertThrows(.keyMismatch) {
            _ = try await PraxisCore.open(serverURL: server, dataDirectory: dir, keyProvider: MemoryKeyProvider(repeating: 9))
        }
        let short = await invalidField {
            _ = try await PraxisCore.open(serverURL: server, dataDirectory: dir,
                                          keyProvider: MemoryKeyProvider(repeating: 0, count: 16))
        }
        XCTAssertNotNil(short, "a 16-byte key is invalid input")
        let url = await invalidField {
            _ = try await PraxisCore.open(serverURL: URL(string: "http://praxis.example.org")!, dataDirectory: tempDir(),
                                          keyProvider: MemoryKeyProvider())
        }
        XCTAssertEqual(url, "server_url")
    }

    func testARestoredBackupWithoutItsKeyIsResetOnlyWhenTheAppAsks() async throws {
        let server = try serverURL()
        let dir = tempDir()
        let person = newPerson("restored")
        let before = try await PraxisCore.open(serverURL: server, dataDirectory: dir, keyProvider: MemoryKeyProvider())
        try await before.register(person)
        _ = try await before.login(email: person.email, password: person.password)
        // The backup brought the files; the new phone's Keychain holds another key.
        let newKey = MemoryKeyProvider(repeating: 8)
        await assertThrows(.keyMismatch) {
            _ = try await PraxisCore.open(serverURL: server, dataDirectory: dir, keyProvider: newKey)
        }
        XCTAssertFalse(newKey.forgotten, "refused without the option: nothing deleted")
        let reset = try await PraxisCore.open(serverURL: server, dataDirectory: dir, keyProvider: newKey,
                                              resetOnKeyMismatch: true)
        XCTAssertTrue(newKey.forgotten, "the provider was told to forget its key")
        XCTAssertEqual(reset.session, .signedOut)
        _ = try await reset.login(email: person.email, password: person.password)
        XCTAssertTrue(reset.isSignedIn)
        await assertThrows(.keyMismatch) {
            _ = try await PraxisCore.open(serverURL: server, dataDirectory: dir, keyProvider: MemoryKeyProvider())
        }
    }

    func testAnUnreachableServerIsANetworkError() async throws {
        let praxis = try await PraxisCore.open(serverURL: URL(string: "http://127.0.0.1:9")!, dataDirectory: tempDir(),
                                               keyProvider: MemoryKeyProvider())
        await assertThrows(.network(reason: "unreachable")) {
            _ = try await praxis.login(email: "a@clinic-example.org", password: "whatever-pass")
        }
    }

    func testCancellingAnInFlightCallStopsItPromptly() async throws {
        let silent = try serverURL("PRAXIS_TEST_SILENT_SERVER")
        let dir = try environment("PRAXIS_TEST_SILENT_DIR")
        let opened = files(in: dir, prefix: "open-").count
        let praxis = try await PraxisCore.open(serverURL: silent, dataDirectory: tempDir(), keyProvider: MemoryKeyProvider(),
                                               requestTimeout: 30)
        let call = Task { try await praxis.login(email: "slow@clinic-example.org", password: "whatever-pass") }
        try await Task.sleep(nanoseconds: 100_000_000)
        let started = Date()
        call.cancel()
        do {
            _ = try await call.value
            XCTFail("the call finished")
        } catch is CancellationError {}
        XCTAssertLessThan(Date().timeIntervalSince(started), 2, "cancellation took too long")
        XCTAssertEqual(praxis.session, .signedOut)
        // The Rust future was dropped, not merely abandoned: the server sees
        // every connection it accepted closed within 2 s.
        XCTAssertGreaterThan(files(in: dir, prefix: "open-").count, opened, "the call reached the server")
        let deadline = Date().addingTimeInterval(2)
        while files(in: dir, prefix: "closed-").count < files(in: dir, prefix: "open-").count, Date() < deadline {
            try await Task.sleep(nanoseconds: 20_000_000)
        }
        XCTAssertEqual(files(in: dir, prefix: "closed-").count, files(in: dir, prefix: "open-").count)
        // The core still works after a cancelled call.
        let after = try await PraxisCore.open(serverURL: try serverURL(), dataDirectory: tempDir(),
                                              keyProvider: MemoryKeyProvider())
        let person = newPerson("after-cancel")
        let id = try await within(10) { try await after.register(person) }
        XCTAssertFalse(id.isEmpty)
    }

    func testTheSessionStatesReportSignInAndSignOut() async throws {
        let praxis = try await PraxisCore.open(serverURL: try serverURL(), dataDirectory: tempDir(),
                                               keyProvider: MemoryKeyProvider())
        let person = newPerson("flow")
        try await praxis.register(person)
        let collector = Task { () -> [SessionState] in
            var seen: [SessionState] = []
            for await state in praxis.sessionStates {
                seen.append(state)
                if seen.count == 3 { break }
            }
            return seen
        }
        try await Task.sleep(nanoseconds: 100_000_000)
        let id = try await praxis.login(email: person.email, password: person.password)
        try await Task.sleep(nanoseconds: 100_000_000)
        try await praxis.logout()
        let states = try await within(5) { await collector.value }
        XCTAssertEqual(states, [.signedOut, .signedIn(userID: id), .signedOut])
        XCTAssertEqual(praxis.session, .signedOut)
    }
}
