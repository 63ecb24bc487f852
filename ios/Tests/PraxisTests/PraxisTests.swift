// Mirrors android/jvm-tests: run on macOS against a praxis-server whose URL
// is in PRAXIS_TEST_SERVER (e.g. `cargo run -p praxis-server` then
// `PRAXIS_TEST_SERVER=http://127.0.0.1:8787 swift test`).
import Foundation
import XCTest
@testable import Praxis

struct MemoryKeyProvider: PraxisKeyProvider {
    var bytes = Data((0..<32).map { UInt8(($0 * 7 + 1) & 0xff) })
    func key() throws -> Data { bytes }
    func forget() throws {}
}

final class PraxisTests: XCTestCase {
    var server: URL!

    override func setUpWithError() throws {
        guard let url = ProcessInfo.processInfo.environment["PRAXIS_TEST_SERVER"].flatMap(URL.init(string:)) else {
            throw XCTSkip("PRAXIS_TEST_SERVER is not set")
        }
        server = url
    }

    func tempDir() -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent(UUID().uuidString)
        try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir
    }

    func person(_ tag: String) -> (email: String, password: String) {
        let n = UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased()
        return ("\(tag).\(n.prefix(10))@clinic-example.org", "violet-tram-oboe-\(n.prefix(8))")
    }

    func testRegisterLoginRestoreLogout() async throws {
        let dir = tempDir()
        let p = person("swift")
        var praxis = try await Praxis.open(serverURL: server, dataDirectory: dir, keyProvider: MemoryKeyProvider())
        XCTAssertEqual(praxis.session, .signedOut)
        let id = try await praxis.register(email: p.email, password: p.password, fullName: "Swift Nurse",
                                           phone: "+33612345678", country: "FR", language: "fr-FR",
                                           profession: "nurse", dateOfBirth: "1985-04-12")
        let signedIn = try await praxis.login(email: p.email, password: p.password)
        XCTAssertEqual(id, signedIn)
        praxis = try await Praxis.open(serverURL: server, dataDirectory: dir, keyProvider: MemoryKeyProvider())
        XCTAssertEqual(praxis.session, .signedIn(userId: id))
        try await praxis.logout()
        XCTAssertEqual(praxis.session, .signedOut)
    }

    func testPrivacyNoticeBeforeSignInAndOffline() async throws {
        let dir = tempDir()
        let praxis = try await Praxis.open(serverURL: server, dataDirectory: dir, keyProvider: MemoryKeyProvider())
        let status = try await praxis.fetchPrivacyNotice()
        XCTAssertFalse(status.changed, "the first notice a device holds is no change")
        XCTAssertFalse(status.notice.controller.name.isEmpty)
        XCTAssertFalse(status.notice.supervisoryAuthority.url.isEmpty)
        XCTAssertEqual(Set(status.notice.consentVersions.map { $0.purpose }).count, 4)
        let ack = try await praxis.acknowledgePrivacyNotice(version: status.notice.version)
        XCTAssertFalse(ack, "nothing to acknowledge")
        let offline = try await Praxis.open(serverURL: URL(string: "http://127.0.0.1:9")!, dataDirectory: dir,
                                            keyProvider: MemoryKeyProvider())
        let held = try await offline.privacyNotice()
        XCTAssertEqual(held, status)
    }

    func testAnalyticsNeedConsentAndRefusePersonalData() async throws {
        let p = person("swiftanalytics")
        let praxis = try await Praxis.open(serverURL: server, dataDirectory: tempDir(), keyProvider: MemoryKeyProvider())
        _ = try await praxis.register(email: p.email, password: p.password, fullName: "Swift Nurse",
                                      phone: "+33612345678", country: "FR", language: "fr-FR",
                                      profession: "nurse", dateOfBirth: "1985-04-12")
        _ = try await praxis.login(email: p.email, password: p.password)
        _ = try await praxis.syncNow()
        let props: [String: AnalyticsValue] = ["screen": .token(value: "schedule"), "items": .count(value: 3)]
        let before = try await praxis.recordAnalyticsEvent("screen_viewed", props: props)
        XCTAssertFalse(before, "no consent yet")
        try await praxis.grantConsent(.analytics)
        let counted = try await praxis.recordAnalyticsEvent("screen_viewed", props: props)
        XCTAssertTrue(counted)
        do {
            try await praxis.recordAnalyticsEvent("screen_viewed", props: ["who": .token(value: "swiftanalytics")])
            XCTFail("a part of the email address was accepted")
        } catch PraxisError.invalidInput {}
        let drained = try await praxis.drainAnalytics()
        XCTAssertEqual(drained.map { $0.count }, [1])
        try await praxis.withdrawConsent(.analytics)
        let after = try await praxis.recordAnalyticsEvent("screen_viewed", props: props)
        XCTAssertFalse(after, "withdrawal applies on the next call")
    }

    func testObjectionsSayWhatStopsAndWhatContinues() async throws {
        let p = person("swiftobjection")
        let praxis = try await Praxis.open(serverURL: server, dataDirectory: tempDir(), keyProvider: MemoryKeyProvider())
        _ = try await praxis.register(email: p.email, password: p.password, fullName: "Swift Nurse",
                                      phone: "+33612345678", country: "FR", language: "fr-FR",
                                      profession: "nurse", dateOfBirth: "1985-04-12")
        _ = try await praxis.login(email: p.email, password: p.password)
        let listed = try await praxis.objections()
        XCTAssertTrue(listed.contains { $0.basis == "connection_log" && !$0.objected && !$0.stops.isEmpty })
        let log = try await praxis.setObjection(basis: "connection_log")
        XCTAssertTrue(log.objected)
        let security = try await praxis.setObjection(basis: "account_security")
        XCTAssertTrue(security.stops.isEmpty)
        XCTAssertNotNil(security.continues)
        // The post-mortem directive (mirrors RightsTest.kt).
        let initial = try await praxis.postMortem()
        XCTAssertEqual(initial.action, .erase)
        let handOver = try await praxis.setPostMortem(.handOver, recipientName: "Ada Heir",
                                                      recipientEmail: "ada.heir@example.org", message: "Yours")
        XCTAssertEqual(handOver.recipientEmail, "ada.heir@example.org")
        try await praxis.removePostMortem()
        let back = try await praxis.postMortem()
        XCTAssertNil(back.updatedAt)
    }

    func testWrongPasswordIsInvalidCredentials() async throws {
        let praxis = try await Praxis.open(serverURL: server, dataDirectory: tempDir(), keyProvider: MemoryKeyProvider())
        do {
            _ = try await praxis.login(email: "nobody@clinic-example.org", password: "wrong-password")
            XCTFail("login should fail")
        } catch let e as PraxisError {
            XCTAssertEqual(e, .invalidCredentials)
        }
    }

    func testWrongKeyIsKeyMismatch() async throws {
        let dir = tempDir()
        _ = try await Praxis.open(serverURL: server, dataDirectory: dir, keyProvider: MemoryKeyProvider())
        do {
            _ = try await Praxis.open(serverURL: server, dataDirectory: dir,
                                      keyProvider: MemoryKeyProvider(bytes: Data(repeating: 9, count: 32)))
            XCTFail("open should fail")
        } catch let e as PraxisError {
            XCTAssertEqual(e, .keyMismatch)
        }
    }

    func testCancellingAnInFlightCall() async throws {
        // A call cancelled at once ends without leaving a session behind.
        let praxis = try await Praxis.open(serverURL: URL(string: "http://127.0.0.1:9")!,
                                           dataDirectory: tempDir(), keyProvider: MemoryKeyProvider())
        let task = Task { try await praxis.login(email: "slow@clinic-example.org", password: "whatever-pass") }
        task.cancel()
        _ = await task.result
        XCTAssertEqual(praxis.session, .signedOut)
    }

    func signedIn(_ tag: String, key: UInt8) async throws -> Praxis {
        let p = person(tag)
        let praxis = try await Praxis.open(serverURL: server, dataDirectory: tempDir(),
                                           keyProvider: MemoryKeyProvider(bytes: Data(repeating: key, count: 32)))
        _ = try await praxis.register(email: p.email, password: p.password, fullName: "Swift \(tag)",
                                      phone: "+33612345678", country: "FR", language: "fr-FR",
                                      profession: "nurse", dateOfBirth: "1985-04-12")
        _ = try await praxis.login(email: p.email, password: p.password)
        return praxis
    }

    // Mirrors LocationTest.kt: the organisation and the user's consent gate check-in.
    func testCheckInNeedsTheOrganisationAndConsent() async throws {
        let admin = try await signedIn("admin", key: 11)
        let nurse = try await signedIn("nurse", key: 12)
        let org = try await admin.createOrg(name: "Soins Nord")
        _ = try await nurse.joinOrg(code: try await admin.createJoinCode(orgId: org))
        do {
            _ = try await nurse.updateLocationPolicy(orgId: org, locationVisits: true)
            XCTFail("a member cannot change the policy")
        } catch let e as PraxisError {
            XCTAssertEqual(e, .forbidden)
        }
        let policy = try await admin.updateLocationPolicy(orgId: org, locationVisits: true)
        XCTAssertTrue(policy.locationVisits)
        try await nurse.syncNow()
        let visit = try await nurse.createAppointment(title: "Insulin", start: Date().addingTimeInterval(3600),
                                                     durationMin: 15, latitude: 50.6365, longitude: 3.0635)
        let fix = Fix(latitude: 50.6366, longitude: 3.0636, accuracyMeters: 8)
        do {
            _ = try await nurse.checkIn(appointmentId: visit, fix: fix)
            XCTFail("no consent yet")
        } catch let e as PraxisError {
            XCTAssertEqual(e, .consentRequired(purpose: "location_visits"))
        }
        try await nurse.grantConsent(.locationVisits)
        for await perms in nurse.locationPermissions {
            if perms.first(where: { $0.purpose == .locationVisits })?.closed == nil { break }
        }
        let event = try await nurse.checkIn(appointmentId: visit, fix: fix)
        XCTAssertEqual(event.inside, true)
        XCTAssertEqual(event.precision, .approximate)
        _ = try await nurse.syncNow()
        try await nurse.withdrawConsent(.locationVisits)
        do {
            _ = try await nurse.checkOut(appointmentId: visit, fix: fix)
            XCTFail("consent withdrawn")
        } catch let e as PraxisError {
            XCTAssertEqual(e, .consentRequired(purpose: "location_visits"))
        }
        // Erasure by purpose (mirrors LocationTest.kt).
        let erased = try await nurse.eraseLocationData(purpose: .locationVisits)
        XCTAssertEqual(erased.visitEventsDeleted, 1)
        XCTAssertEqual(erased.visitEventsHeld, 0)
        XCTAssertNil(erased.heldUntil)
    }

    // Mirrors SyncTest.kt: with live sync on, the tablet's list shows the
    // phone's visit without a sync call; `received` counts what a sync brought.
    func testLiveSyncBringsAnotherDevicesEdit() async throws {
        let p = person("live")
        let phone = try await Praxis.open(serverURL: server, dataDirectory: tempDir(), keyProvider: MemoryKeyProvider())
        let tablet = try await Praxis.open(serverURL: server, dataDirectory: tempDir(),
                                           keyProvider: MemoryKeyProvider(bytes: Data(repeating: 5, count: 32)))
        _ = try await phone.register(email: p.email, password: p.password, fullName: "Swift Live",
                                     phone: "+33612345678", country: "FR", language: "fr-FR",
                                     profession: "nurse", dateOfBirth: "1985-04-12")
        _ = try await phone.login(email: p.email, password: p.password)
        _ = try await tablet.login(email: p.email, password: p.password)
        _ = try await phone.createAppointment(title: "Synced", start: Date().addingTimeInterval(3600),
                                              durationMin: 20, latitude: 50.6365, longitude: 3.0635)
        try await phone.syncNow()
        let first = try await tablet.syncNow()
        XCTAssertGreaterThanOrEqual(first.received, 1, "the visit came in that sync")
        let second = try await tablet.syncNow()
        XCTAssertEqual(second.received, 0, "nothing new since")
        let live = tablet.startLiveSync()
        defer { live.cancel() }
        for await status in tablet.syncStatuses where status.lastSuccess != nil { break }
        _ = try await phone.createAppointment(title: "Seen live", start: Date().addingTimeInterval(86400),
                                              durationMin: 20, latitude: 50.6365, longitude: 3.0635)
        try await phone.syncNow()
        for try await list in tablet.appointmentLists where list.contains(where: { $0.title == "Seen live" }) {
            XCTAssertEqual(list.count, 2)
            break
        }
    }

    // Mirrors AccountTest.kt: a lost phone is signed out and wiped from the laptop.
    func testLostPhoneIsSignedOutAndWipedFromTheLaptop() async throws {
        let p = person("devices")
        let phone = try await Praxis.open(serverURL: server, dataDirectory: tempDir(), keyProvider: MemoryKeyProvider(),
                                          deviceName: "iPhone Swift")
        let laptop = try await Praxis.open(serverURL: server, dataDirectory: tempDir(),
                                           keyProvider: MemoryKeyProvider(bytes: Data(repeating: 6, count: 32)),
                                           deviceName: "Laptop")
        _ = try await phone.register(email: p.email, password: p.password, fullName: "Swift Devices",
                                     phone: "+33612345678", country: "FR", language: "fr-FR",
                                     profession: "nurse", dateOfBirth: "1985-04-12")
        _ = try await phone.login(email: p.email, password: p.password)
        _ = try await laptop.login(email: p.email, password: p.password)
        _ = try await phone.createAppointment(title: "Swift lost-phone visit", start: Date(), durationMin: 30,
                                              latitude: 50.6365, longitude: 3.0635)
        try await phone.syncNow()
        let sessions = try await laptop.devices.sessions()
        XCTAssertEqual(sessions.count, 2)
        let lost = try XCTUnwrap(sessions.first { !$0.current })
        XCTAssertEqual(lost.deviceName, "iPhone Swift")
        XCTAssertEqual(lost.platform, .ios)
        do {
            try await laptop.devices.endSession(id: lost.id, wipe: true)
            XCTFail("a wipe needs the password re-entered")
        } catch let e as PraxisError {
            XCTAssertEqual(e, .conflict(code: "reauth_required"))
        }
        try await laptop.reauthenticate(password: p.password)
        try await laptop.devices.endSession(id: lost.id, wipe: true)
        try await laptop.changePassword(current: p.password, newPassword: "quartz-lantern-oboe-91")
        _ = try await laptop.profile()
        do {
            _ = try await phone.profile()
            XCTFail("the phone is signed out")
        } catch let e as PraxisError {
            XCTAssertEqual(e, .unauthorized)
        }
        XCTAssertEqual(phone.session, .wiped)
        let left = try await phone.appointments()
        XCTAssertTrue(left.isEmpty)
    }

    // Mirrors OrgAdminTest.kt: an admin promotes, demotes, removes and reads the audit log; a member is refused.
    func testAdminRunsThePracticeAndAMemberIsForbidden() async throws {
        func signedIn(_ tag: String, _ key: UInt8) async throws -> (Praxis, String) {
            let p = person(tag)
            let praxis = try await Praxis.open(serverURL: server, dataDirectory: tempDir(),
                                               keyProvider: MemoryKeyProvider(bytes: Data(repeating: key, count: 32)))
            _ = try await praxis.register(email: p.email, password: p.password, fullName: "Swift \(tag)",
                                          phone: "+33612345678", country: "FR", language: "fr-FR",
                                          profession: "nurse", dateOfBirth: "1985-04-12")
            return (praxis, try await praxis.login(email: p.email, password: p.password))
        }
        let (admin, adminId) = try await signedIn("orgadmin", 11)
        let (nurse, nurseId) = try await signedIn("orgnurse", 12)
        let (other, otherId) = try await signedIn("orgother", 13)
        let org = try await admin.createOrg(name: "Cabinet Swift")
        _ = try await nurse.joinOrg(code: try await admin.createJoinCode(orgId: org))
        _ = try await other.joinOrg(code: try await admin.createJoinCode(orgId: org))
        try await admin.orgAdmin.setMemberRole(orgId: org, userId: nurseId, role: .admin)
        try await admin.orgAdmin.setMemberRole(orgId: org, userId: nurseId, role: .member)
        do {
            try await nurse.orgAdmin.removeMember(orgId: org, userId: otherId)
            XCTFail("a member cannot remove")
        } catch let e as PraxisError {
            XCTAssertEqual(e, .forbidden)
        }
        try await admin.orgAdmin.removeMember(orgId: org, userId: otherId)
        let members = try await admin.members(orgId: org)
        XCTAssertEqual(Set(members.map(\.userId)), [adminId, nurseId])
        let events = try await admin.orgAdmin.auditLog(orgId: org).map(\.event)
        XCTAssertEqual(events.filter { $0 == "member_role_changed" }.count, 2)
        XCTAssertTrue(events.contains("member_removed"))
    }

    // Mirrors ContactsTest.kt: an invitation connects two practitioners until revoked.
    func testInvitationConnectsWithChosenFieldsUntilRevoked() async throws {
        let alice = try await signedIn("alice", key: 21)
        let bruno = try await signedIn("bruno", key: 22)
        _ = try await alice.updateCard(ContactCard(displayName: "Dr Alice Morel", profession: nil, specialty: "Endocrinology",
                                                  workPhone: "+33320554433", workEmail: nil, organisation: nil,
                                                  clinicAddress: nil, languages: []))
        let invitation = try await alice.createInvitation(fields: ["display_name", "work_phone"])
        let aliceId = try await bruno.acceptInvitation(code: invitation.code, fields: ["display_name"])
        let cards = try await bruno.contacts()
        XCTAssertEqual(cards.count, 1)
        XCTAssertEqual(cards[0].ownerId, aliceId)
        XCTAssertEqual(cards[0].card.workPhone, "+33320554433")
        XCTAssertNil(cards[0].card.specialty)
        try await alice.syncNow()
        let brunoId = try await alice.contacts()[0].ownerId
        try await alice.revokeContact(userId: brunoId)
        try await bruno.syncNow()
        let after = try await bruno.contacts()
        XCTAssertTrue(after.isEmpty)
    }
}
