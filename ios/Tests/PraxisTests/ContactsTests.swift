// Mirrors android/jvm-tests ContactsTest.kt, test for test.
import Foundation
import XCTest
@testable import Praxis

final class ContactsTests: XCTestCase {
    private func card(_ name: String, specialty: String? = nil, workPhone: String? = nil,
                      workEmail: String? = nil) -> ContactCard {
        ContactCard(displayName: name, profession: nil, specialty: specialty, workPhone: workPhone, workEmail: workEmail,
                    organisation: nil, clinicAddress: nil, languages: [])
    }

    func testAnInvitationConnectsTwoPractitionersWithChosenFieldsUntilRevoked() async throws {
        let (alice, aliceID) = try await signedIn("alice", key: 21)
        let (bruno, brunoID) = try await signedIn("bruno", key: 22)
        _ = try await alice.updateCard(card("Dr Alice Morel", specialty: "Endocrinology", workPhone: "+33320554433"))
        _ = try await bruno.updateCard(card("Bruno Lefebvre", workPhone: "+33320998877", workEmail: "bruno@soins-example.org"))

        let invitation = try await alice.createInvitation(fields: ["display_name", "work_phone"])
        XCTAssertFalse(String(describing: invitation).contains(invitation.code), "description hides the code")
        // A tampered code is refused on the device.
        let tampered = String(invitation.code.dropLast(2)) + (invitation.code.hasSuffix("AA") ? "BB" : "AA")
        let bad = await invalidField { _ = try await bruno.acceptInvitation(code: tampered, fields: ["display_name"]) }
        XCTAssertEqual(bad, "code")

        let inviter = try await bruno.acceptInvitation(code: invitation.code, fields: ["display_name", "work_email"])
        XCTAssertEqual(inviter, aliceID)
        let onBruno = try await bruno.contacts()
        XCTAssertEqual(onBruno.count, 1)
        XCTAssertEqual(onBruno.first?.ownerId, aliceID)
        XCTAssertEqual(onBruno.first?.card.displayName, "Dr Alice Morel")
        XCTAssertEqual(onBruno.first?.card.workPhone, "+33320554433")
        XCTAssertNil(onBruno.first?.card.specialty, "not shared")
        XCTAssertFalse(String(describing: onBruno).contains("+33320554433"), "description hides the card")

        try await alice.syncNow(reason: "test")
        let onAlice = try await alice.contacts()
        XCTAssertEqual(onAlice.count, 1)
        XCTAssertEqual(onAlice.first?.ownerId, brunoID)
        XCTAssertEqual(onAlice.first?.card.workEmail, "bruno@soins-example.org")
        XCTAssertNil(onAlice.first?.card.workPhone, "not shared back")

        // Used: a second acceptance is a conflict.
        await assertThrows(.conflict(code: "invitation_used")) {
            _ = try await bruno.acceptInvitation(code: invitation.code, fields: ["display_name"])
        }

        try await alice.revokeContact(userID: brunoID)
        let aliceLeft = try await alice.contacts()
        XCTAssertTrue(aliceLeft.isEmpty)
        try await bruno.syncNow(reason: "test")
        let brunoLeft = try await bruno.contacts()
        XCTAssertTrue(brunoLeft.isEmpty, "gone after sync")
    }
}
