// `./auth` as the samples import it: the app's own session module.
export declare function getAccessToken(): Promise<string>;
