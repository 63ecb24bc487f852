// Mirrors android/jvm-tests RightsTest.kt, test for test.
import Foundation
import XCTest
@testable import Praxis

final class RightsTests: XCTestCase {
    func testThePrivacyNoticeIsShownBeforeSignInAndHeldOffline() async throws {
        let dir = tempDir()
        let praxis = try await PraxisCore.open(serverURL: try serverURL(), dataDirectory: dir, keyProvider: MemoryKeyProvider())
        let status = try await praxis.fetchPrivacyNotice()
        XCTAssertEqual(status.notice.version, 1)
        XCTAssertEqual(status.notice.published, "2026-12-01")
        XCTAssertEqual(status.notice.controller.registrationNumber, "HRB 000000")
        XCTAssertEqual(status.notice.dpo.email, "dpo@praxis.example.org")
        XCTAssertEqual(status.notice.supervisoryAuthority.url, "https://www.datenschutz-berlin.de/")
        XCTAssertEqual(status.notice.consentVersions.first { $0.purpose == .marketing }?.version, 1)
        XCTAssertEqual(Set(status.notice.consentVersions.map(\.purpose)),
                       [.locationVisits, .locationSharing, .marketing, .analytics])
        XCTAssertFalse(status.notice.development)
        XCTAssertFalse(status.changed, "the first notice a device holds is no change")
        XCTAssertFalse(String(describing: status).contains("praxis.example.org"), "no addresses in logs")
        let acknowledged = try await praxis.acknowledgePrivacyNotice(version: 1)
        XCTAssertFalse(acknowledged, "nothing to acknowledge")
        // Offline, the copy held.
        let offline = try await PraxisCore.open(serverURL: URL(string: "http://127.0.0.1:9")!, dataDirectory: dir,
                                                keyProvider: MemoryKeyProvider())
        let held = try await offline.privacyNotice()
        XCTAssertEqual(held, status)
        let fetched = try await offline.fetchPrivacyNotice()
        XCTAssertEqual(fetched, status)
    }

    func testAnalyticsAreCountedOnlyWithConsentAndNeverWithPersonalData() async throws {
        let person = newPerson("analytics")
        let praxis = try await PraxisCore.open(serverURL: try serverURL(), dataDirectory: tempDir(),
                                               keyProvider: MemoryKeyProvider())
        try await praxis.register(person)
        _ = try await praxis.login(email: person.email, password: person.password)
        try await praxis.syncNow()
        let props: [String: AnalyticsValue] = ["screen": .token(value: "schedule"), "items": .count(value: 3)]
        let before = try await praxis.recordAnalyticsEvent("screen_viewed", props: props)
        XCTAssertFalse(before, "no consent yet")
        try await praxis.grantConsent(.analytics)
        let first = try await praxis.recordAnalyticsEvent("screen_viewed", props: props)
        let second = try await praxis.recordAnalyticsEvent("screen_viewed", props: props)
        XCTAssertTrue(first && second)
        let local = String(person.email.prefix { $0 != "@" }.prefix { $0 != "." })
        let personal = await invalidField {
            _ = try await praxis.recordAnalyticsEvent("screen_viewed", props: ["who": .token(value: local)])
        }
        XCTAssertNotNil(personal, "a part of the email address was refused")
        let drained = try await praxis.drainAnalytics()
        XCTAssertEqual(drained.count, 1)
        XCTAssertEqual(drained.first?.count, 2)
        XCTAssertEqual(drained.first?.props["screen"], .token(value: "schedule"))
        try await praxis.withdrawConsent(.analytics)
        let after = try await praxis.recordAnalyticsEvent("screen_viewed", props: props)
        XCTAssertFalse(after, "withdrawal applies on the next call")
        let empty = try await praxis.drainAnalytics()
        XCTAssertTrue(empty.isEmpty)
    }

    func testExportRestrictionAndErasure() async throws {
        let person = newPerson("rights")
        let praxis = try await PraxisCore.open(serverURL: try serverURL(), dataDirectory: tempDir(),
                                               keyProvider: MemoryKeyProvider())
        try await praxis.register(person)
        _ = try await praxis.login(email: person.email, password: person.password)

        let file = tempDir().appendingPathComponent("export.json")
        let written = try await praxis.exportData(to: file)
        XCTAssertGreaterThan(written, 0)
        let exported = try String(contentsOf: file, encoding: .utf8)
        XCTAssertTrue(exported.contains(person.email), "the export holds the account")

        let listed = try await praxis.objections()
        XCTAssertTrue(listed.contains { $0.basis == "connection_log" && !$0.objected && !$0.stops.isEmpty })
        let security = try await praxis.setObjection(basis: "account_security")
        XCTAssertTrue(security.objected && security.stops.isEmpty)
        XCTAssertTrue(security.continues?.contains("Art. 21(1)") ?? false)
        let unknown = await invalidField { _ = try await praxis.setObjection(basis: "everything") }
        XCTAssertNotNil(unknown)

        let initial = try await praxis.postMortem()
        XCTAssertEqual(initial.action, .erase)
        let handOver = try await praxis.setPostMortem(.handOver, recipientName: "Ada Heir",
                                                      recipientEmail: "ada.heir@example.org", message: "Yours")
        XCTAssertEqual(handOver.recipientEmail, "ada.heir@example.org")
        XCTAssertFalse(String(describing: handOver).contains("ada.heir"), "no address in logs")
        let noRecipient = await invalidField { _ = try await praxis.setPostMortem(.handOver) }
        XCTAssertNotNil(noRecipient)
        try await praxis.removePostMortem()
        let back = try await praxis.postMortem()
        XCTAssertNil(back.updatedAt, "the default again")

        try await praxis.setRestricted(true)
        await assertThrows(.restricted) {
            _ = try await praxis.createAppointment(title: "Frozen", start: Date(), durationMinutes: 30)
        }
        try await praxis.setRestricted(false)
        _ = try await praxis.createAppointment(title: "Allowed again", start: Date(), durationMinutes: 30)
        let audit = try await praxis.auditLog()
        XCTAssertTrue(audit.contains { $0.event == "restriction_changed" })

        await assertThrows(.invalidCredentials) { try await praxis.deleteAccount(password: "not-the-password") }
        try await praxis.deleteAccount(password: person.password)
        XCTAssertEqual(praxis.session, .signedOut)
        let wiped = try await praxis.appointments()
        XCTAssertTrue(wiped.isEmpty, "this device was wiped")
        await assertThrows(.invalidCredentials) { _ = try await praxis.login(email: person.email, password: person.password) }
    }
}
