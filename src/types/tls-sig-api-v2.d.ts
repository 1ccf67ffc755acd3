/**
 * Tencent's UserSig generator (tencentyun/tls-sig-api-v2-node 1.0.2: CommonJS, ships no types).
 * Import it as `tls-sig-api-v2/TLSSigAPIv2.js`: its package.json names `main` twice
 * ("TLSSigAPI.js", which does not exist, then "TLSSigAPIv2.js"); Node takes the last, Jest's
 * resolver the first.
 */
declare module 'tls-sig-api-v2/TLSSigAPIv2.js' {
  export class Api {
    constructor(sdkappid: number, key: string);
    /** A UserSig for `userid`, valid `expire` seconds from now (Date.now()). */
    genUserSig(userid: string, expire: number): string;
    genPrivateMapKey(userid: string, expire: number, roomid: number, privilegeMap: number): string;
    genPrivateMapKeyWithStringRoomID(
      userid: string,
      expire: number,
      roomstr: string,
      privilegeMap: number,
    ): string;
  }
}
