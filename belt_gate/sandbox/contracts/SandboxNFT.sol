// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

/// ERC-721-shaped event emitter for the belt_gate sandbox. It keeps no ownership state: the traffic
/// generator decides who owns what, and the contract only emits the standard Transfer log, so that
/// hundreds of thousands of events per chain stay cheap.
contract SandboxNFT {
    event Transfer(address indexed from, address indexed to, uint256 indexed tokenId);

    /// One Transfer(from[i], to[i], tokenId[i]) per element; from = address(0) is a mint.
    function transferBatch(address[] calldata from, address[] calldata to, uint256[] calldata tokenId)
        external
    {
        require(from.length == to.length && to.length == tokenId.length, "length");
        for (uint256 i = 0; i < tokenId.length; i++) {
            emit Transfer(from[i], to[i], tokenId[i]);
        }
    }
}
