// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

/// ERC-1155-shaped event emitter for the belt_gate sandbox (no balances kept; see SandboxNFT).
contract SandboxMulti {
    event TransferSingle(
        address indexed operator, address indexed from, address indexed to, uint256 id, uint256 value
    );

    /// One TransferSingle(msg.sender, from[i], to[i], id[i], value[i]) per element.
    function transferSingleBatch(
        address[] calldata from,
        address[] calldata to,
        uint256[] calldata id,
        uint256[] calldata value
    ) external {
        require(
            from.length == to.length && to.length == id.length && id.length == value.length, "length"
        );
        for (uint256 i = 0; i < id.length; i++) {
            emit TransferSingle(msg.sender, from[i], to[i], id[i], value[i]);
        }
    }
}
