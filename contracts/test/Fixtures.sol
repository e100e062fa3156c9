// SPDX-License-Identifier: MIT
pragma solidity 0.8.26;

// Hostile counterparts for the contract tests (never deployed outside them).

interface IEscrow {
    function pay(bytes32 orderId, address payee, uint256 fee, uint256 deadline, bytes calldata signature)
        external
        payable;
    function reclaim(bytes32 orderId) external;
    function withdraw(address payable to) external;
}

/// Pays as payer, then on receiving a refund tries to re-enter the escrow to be paid twice.
/// It swallows the re-entry's failure and keeps what it got, so the test sees both.
contract Attacker {
    IEscrow public immutable escrow;
    bytes32 public orderId;
    bool public reentered;
    bytes public reentryError;
    uint256 public received;

    constructor(IEscrow escrow_) {
        escrow = escrow_;
    }

    function pay(bytes32 id, address payee, uint256 fee, uint256 deadline, bytes calldata sig) external payable {
        orderId = id;
        escrow.pay{value: msg.value}(id, payee, fee, deadline, sig);
    }

    receive() external payable {
        received += msg.value;
        try escrow.reclaim(orderId) {
            reentered = true;
        } catch (bytes memory err) {
            reentryError = err;
        }
    }
}

/// A payee that refuses every transfer; it can still withdraw its pull balance elsewhere.
contract RevertingPayee {
    receive() external payable {
        revert("no ether here");
    }

    function withdrawTo(IEscrow escrow, address payable to) external {
        escrow.withdraw(to);
    }
}
