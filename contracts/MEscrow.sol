// SPDX-License-Identifier: MIT
pragma solidity 0.8.26;

/// @title MEscrow: the escrow behind every Metmos order.
/// @notice The payer pays an order with a quote the platform signed; the funds stay here
/// until the platform's operator releases them to the payee (minus the platform fee) or
/// refunds the payer. Each order settles once. If the platform never acts, the payer may
/// reclaim the funds after a grace period fixed at deployment.
/// @dev The model is OpenZeppelin v4's Escrow/ConditionalEscrow/PullPayment (removed in v5),
/// written out small: no imports, a hand-written ECDSA recover with the same checks as
/// OpenZeppelin's (65-byte signature, v in {27, 28}, s in the lower half order).
/// The quote digest is the one `engine/src/adapters/chain/mod.rs` `quote_digest` defines:
/// keccak256(abi.encode(chainid, this, orderId, payer, payee, amount, fee, deadline)),
/// signed as an EIP-191 personal message.
contract MEscrow {
    enum State {
        None,
        Held,
        Released,
        Refunded
    }

    struct Escrow {
        address payer;
        uint64 paidAt;
        State state;
        address payee;
        uint256 amount;
        uint256 fee;
    }

    /// secp256k1n / 2: a signature with a larger s is the malleable twin of another one.
    uint256 private constant HALF_ORDER =
        0x7FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF5D576E7357A4501DDFE92F46681B20A0;

    /// Gas forwarded with a push payment: enough for a contract wallet's receive, too little
    /// for a recipient to make the operator's transaction run out of gas. A recipient that
    /// reverts or needs more gets a pull balance instead (see `withdraw`).
    uint256 private constant PUSH_GAS = 100_000;

    /// The only account that may release or refund.
    address public immutable operator;
    /// The platform's quote key: `pay` accepts only quotes it signed.
    address public immutable quoteSigner;
    /// Where the fees go.
    address public immutable platform;
    /// Seconds after payment after which the payer may reclaim unsettled funds.
    uint256 public immutable reclaimDelay;

    mapping(bytes32 => Escrow) private escrows;
    /// Pull balances of recipients a push payment could not reach.
    mapping(address => uint256) public pendingWithdrawals;

    uint256 private lock = 1;

    event OrderPaid(
        bytes32 indexed orderId,
        address indexed payer,
        address indexed payee,
        uint256 amount,
        uint256 fee
    );
    event FundReleased(bytes32 indexed orderId, address indexed payee, uint256 payeeAmount, uint256 fee);
    event Refunded(bytes32 indexed orderId, address indexed payer, uint256 amount);

    error NotOperator();
    error NotPayer();
    error QuoteExpired();
    error AlreadyPaid();
    error BadSignature();
    error BadQuote();
    error NotHeld();
    error TooEarly();
    error NothingToWithdraw();
    error TransferFailed();
    error Reentrancy();

    modifier nonReentrant() {
        if (lock != 1) revert Reentrancy();
        lock = 2;
        _;
        lock = 1;
    }

    modifier onlyOperator() {
        if (msg.sender != operator) revert NotOperator();
        _;
    }

    constructor(address operator_, address quoteSigner_, address platform_, uint256 reclaimDelay_) {
        if (operator_ == address(0) || quoteSigner_ == address(0) || platform_ == address(0)) {
            revert BadQuote();
        }
        operator = operator_;
        quoteSigner = quoteSigner_;
        platform = platform_;
        reclaimDelay = reclaimDelay_;
    }

    /// Pays order `orderId` with `msg.value` = the order total, under the platform's quote.
    /// Reverts on a wrong amount, another payer, another payee or fee (BadSignature: they are
    /// all in the signed digest), an expired quote, or an order id already used.
    function pay(bytes32 orderId, address payee, uint256 fee, uint256 deadline, bytes calldata signature)
        external
        payable
        nonReentrant
    {
        if (block.timestamp >= deadline) revert QuoteExpired();
        if (escrows[orderId].state != State.None) revert AlreadyPaid();
        if (payee == address(0) || msg.value == 0 || fee > msg.value) revert BadQuote();
        bytes32 digest = keccak256(
            abi.encode(block.chainid, address(this), orderId, msg.sender, payee, msg.value, fee, deadline)
        );
        if (_recover(_ethSignedMessageHash(digest), signature) != quoteSigner) revert BadSignature();

        escrows[orderId] = Escrow({
            payer: msg.sender,
            paidAt: uint64(block.timestamp),
            state: State.Held,
            payee: payee,
            amount: msg.value,
            fee: fee
        });
        emit OrderPaid(orderId, msg.sender, payee, msg.value, fee);
    }

    /// Operator: the payee gets amount - fee, the platform the fee.
    function release(bytes32 orderId) external onlyOperator nonReentrant {
        Escrow storage e = escrows[orderId];
        if (e.state != State.Held) revert NotHeld();
        e.state = State.Released;
        uint256 payeeAmount = e.amount - e.fee;
        emit FundReleased(orderId, e.payee, payeeAmount, e.fee);
        _push(e.payee, payeeAmount);
        _push(platform, e.fee);
    }

    /// Operator: the payer gets the whole amount back.
    function refund(bytes32 orderId) external onlyOperator nonReentrant {
        _refund(orderId);
    }

    /// Payer: takes the funds back when the platform has not settled the order within
    /// `reclaimDelay` seconds of payment.
    function reclaim(bytes32 orderId) external nonReentrant {
        Escrow storage e = escrows[orderId];
        if (e.state != State.Held) revert NotHeld();
        if (msg.sender != e.payer) revert NotPayer();
        if (block.timestamp < uint256(e.paidAt) + reclaimDelay) revert TooEarly();
        _refund(orderId);
    }

    /// Sends the caller's pull balance to `to` (a recipient that cannot receive names
    /// another address).
    function withdraw(address payable to) external nonReentrant {
        uint256 amount = pendingWithdrawals[msg.sender];
        if (amount == 0) revert NothingToWithdraw();
        pendingWithdrawals[msg.sender] = 0;
        (bool ok,) = to.call{value: amount}("");
        if (!ok) revert TransferFailed();
    }

    /// The record of one order, as the engine's Ethereum adapter reads it. `state`:
    /// 0 none, 1 held, 2 released, 3 refunded.
    function escrowOf(bytes32 orderId)
        external
        view
        returns (uint8 state, address payer, address payee, uint256 amount, uint256 fee, uint64 paidAt)
    {
        Escrow storage e = escrows[orderId];
        return (uint8(e.state), e.payer, e.payee, e.amount, e.fee, e.paidAt);
    }

    function _refund(bytes32 orderId) private {
        Escrow storage e = escrows[orderId];
        if (e.state != State.Held) revert NotHeld();
        e.state = State.Refunded;
        emit Refunded(orderId, e.payer, e.amount);
        _push(e.payer, e.amount);
    }

    /// Effects are done before this is called; a recipient that refuses gets a pull balance
    /// rather than blocking the settlement.
    function _push(address to, uint256 amount) private {
        if (amount == 0) return;
        (bool ok,) = payable(to).call{value: amount, gas: PUSH_GAS}("");
        if (!ok) pendingWithdrawals[to] += amount;
    }

    function _ethSignedMessageHash(bytes32 digest) private pure returns (bytes32) {
        return keccak256(abi.encodePacked("\x19Ethereum Signed Message:\n32", digest));
    }

    /// ECDSA recover with OpenZeppelin's checks; any malformed signature recovers nobody.
    function _recover(bytes32 hash, bytes calldata signature) private pure returns (address) {
        if (signature.length != 65) return address(0);
        bytes32 r = bytes32(signature[0:32]);
        bytes32 s = bytes32(signature[32:64]);
        uint8 v = uint8(signature[64]);
        if (uint256(s) > HALF_ORDER) return address(0);
        if (v != 27 && v != 28) return address(0);
        return ecrecover(hash, v, r, s);
    }
}
