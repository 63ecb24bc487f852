// Mirrors android/jvm-tests SyncTest.kt, test for test.
import Foundation
import XCTest
@testable import Praxis

final class SyncTests: XCTestCase {
    /// The first sync status the stream gives that satisfies `test` (10 s at most).
    private func status(_ praxis: PraxisCore, _ test: @escaping @Sendable (SyncStatus) -> Bool) async throws -> SyncStatus {
        try await within(10) {
            for await s in praxis.syncStatuses where test(s) { return s }
            throw TimedOut()
        }
    }

    func testEditsOnTwoDevicesConverge() async throws {
        let server = try serverURL()
        let person = newPerson("sync")
        let phone = try await PraxisCore.open(serverURL: server, dataDirectory: tempDir(), keyProvider: MemoryKeyProvider())
        let tablet = try await PraxisCore.open(serverURL: server, dataDirectory: tempDir(),
                                               keyProvider: MemoryKeyProvider(repeating: 3))
        try await phone.register(person)
        _ = try await phone.login(email: person.email, password: person.password)
        _ = try await tablet.login(email: person.email, password: person.password)

        let start = Date(timeIntervalSince1970: (Date().timeIntervalSince1970 + 86_400).rounded(.down))
        let id = try await phone.createAppointment(title: "Wound dressing", start: start, durationMinutes: 30,
                                                  patientLabel: "P-12", address: "3 rue des Lilas")
        let queued = try await status(phone) { _ in true }
        XCTAssertEqual(queued.pending, 1, "queued offline")
        let sent = try await phone.syncNow(reason: "test")
        XCTAssertEqual(sent.state, .idle)
        let settled = try await phone.syncNow(reason: "test")
        XCTAssertEqual(settled.pending, 0)
        let first = try await tablet.syncNow(reason: "test")
        XCTAssertGreaterThanOrEqual(first.received, 1, "the visit came in that sync")
        let onTablet = try await tablet.appointments()
        XCTAssertEqual(onTablet.map(\.title), ["Wound dressing"])
        XCTAssertFalse(String(describing: onTablet).contains("Lilas"), "description hides the visit's details")
        let nothing = try await tablet.syncNow(reason: "test")
        XCTAssertEqual(nothing.received, 0, "nothing new since")

        // Both edit the same visit, different fields, while "offline".
        try await phone.updateAppointment(id: id, title: "Wound dressing (left leg)")
        try await tablet.updateAppointment(id: id, status: .completed)
        _ = try await tablet.createAppointment(title: "Insulin", start: start.addingTimeInterval(7200), durationMinutes: 15)
        for device in [phone, tablet, phone] {
            let s = try await device.syncNow(reason: "test")
            XCTAssertEqual(s.state, .idle)
        }
        let onPhone = try await phone.appointments()
        let onTabletNow = try await tablet.appointments()
        XCTAssertEqual(onPhone, onTabletNow)
        let visit = try XCTUnwrap(onPhone.first { $0.id == id })
        XCTAssertEqual(visit.title, "Wound dressing (left leg)")
        XCTAssertEqual(visit.status, .completed)
        XCTAssertEqual(visit.start, start)
        XCTAssertEqual(onPhone.count, 2)

        try await tablet.deleteAppointment(id: id)
        try await tablet.syncNow(reason: "test")
        try await phone.syncNow(reason: "test")
        let left = try await phone.appointments()
        XCTAssertEqual(left.map(\.title), ["Insulin"])
        let bad = await invalidField { _ = try await phone.createAppointment(title: "", start: start, durationMinutes: 30) }
        XCTAssertEqual(bad, "title")
        let negative = await invalidField {
            _ = try await phone.createAppointment(title: "Backwards", start: start, durationMinutes: -5)
        }
        XCTAssertEqual(negative, "duration_min")
        let last = try await status(phone) { _ in true }
        XCTAssertNotNil(last.lastSuccess)
    }

    func testAutoSyncSendsAWriteWithoutBeingAsked() async throws {
        let person = newPerson("autosync")
        let phone = try await PraxisCore.open(serverURL: try serverURL(), dataDirectory: tempDir(),
                                              keyProvider: MemoryKeyProvider())
        try await phone.register(person)
        _ = try await phone.login(email: person.email, password: person.password)
        let auto = phone.startAutoSync()
        defer { auto.cancel() }
        _ = try await phone.createAppointment(title: "Background visit", start: Date().addingTimeInterval(86_400),
                                              durationMinutes: 20)
        let settled = try await status(phone) { $0.pending == 0 && $0.lastSuccess != nil }
        XCTAssertEqual(settled.state, .idle)
    }

    func testLiveSyncBringsAnotherDevicesEditWithoutBeingAsked() async throws {
        let server = try serverURL()
        let person = newPerson("live")
        let phone = try await PraxisCore.open(serverURL: server, dataDirectory: tempDir(), keyProvider: MemoryKeyProvider())
        let tablet = try await PraxisCore.open(serverURL: server, dataDirectory: tempDir(),
                                               keyProvider: MemoryKeyProvider(repeating: 5))
        try await phone.register(person)
        _ = try await phone.login(email: person.email, password: person.password)
        _ = try await tablet.login(email: person.email, password: person.password)
        _ = try await phone.createAppointment(title: "Synced", start: Date().addingTimeInterval(3600), durationMinutes: 20)
        try await phone.syncNow()
        try await tablet.syncNow()
        let live = tablet.startLiveSync()
        defer { live.cancel() }
        _ = try await status(tablet) { $0.lastSuccess != nil }
        _ = try await phone.createAppointment(title: "Seen live", start: Date().addingTimeInterval(86_400),
                                              durationMinutes: 20)
        try await phone.syncNow()
        let list = try await within(10) { () -> [Appointment] in
            for try await list in tablet.appointmentLists where list.contains(where: { $0.title == "Seen live" }) {
                return list
            }
            throw TimedOut()
        }
        XCTAssertEqual(list.count, 2)
    }

    func testAWakeUpThroughThePushGatewayBringsTheChange() async throws {
        let woken = try serverURL("PRAXIS_TEST_PUSH_SERVER")
        let pushes = try environment("PRAXIS_TEST_PUSH_DIR")
        let person = newPerson("wakeup")
        let phone = try await PraxisCore.open(serverURL: woken, dataDirectory: tempDir(), keyProvider: MemoryKeyProvider())
        let tablet = try await PraxisCore.open(serverURL: woken, dataDirectory: tempDir(),
                                               keyProvider: MemoryKeyProvider(repeating: 6))
        try await phone.register(person)
        _ = try await phone.login(email: person.email, password: person.password)
        _ = try await tablet.login(email: person.email, password: person.password)
        let empty = await invalidField { try await tablet.registerPushToken(apnsToken: "") }
        XCTAssertNotNil(empty)
        let token = "a1b2c3d4e5f6" + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased()
        try await tablet.registerPushToken(apnsToken: token)
        _ = try await phone.createAppointment(title: "Woken up", start: Date().addingTimeInterval(86_400),
                                              durationMinutes: 20)
        try await phone.syncNow(reason: "test")
        // The gateway got a notification for the tablet, with no content.
        var body: String?
        for _ in 0..<750 where body == nil {
            body = files(in: pushes, prefix: "").lazy
                .compactMap { try? String(contentsOfFile: "\(pushes)/\($0)", encoding: .utf8) }
                .first { $0.contains(token) }
            if body == nil { try await Task.sleep(nanoseconds: 20_000_000) }
        }
        let sent = try XCTUnwrap(body, "no wake-up sent")
        XCTAssertFalse(sent.contains(person.email) || sent.contains("Woken up"), "content-free")
        let synced = try await tablet.handleWakeUp()
        XCTAssertEqual(synced.state, .idle)
        let titles = try await tablet.appointments().map(\.title)
        XCTAssertEqual(titles, ["Woken up"])
    }
}
